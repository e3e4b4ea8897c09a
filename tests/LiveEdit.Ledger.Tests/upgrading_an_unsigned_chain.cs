using System.Globalization;
using System.Text;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>A ledger chained in the earlier, unsigned format (no prev_seq, event id or MAC), as an existing installation has it.</summary>
[Collection(Collections.Postgres)]
public sealed class upgrading_an_unsigned_chain(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;

    public async Task InitializeAsync()
    {
        _t = await TestLedger.CreateAsync(db, GetType());
        await _t.ActiveEditAsync();
        await _t.ProposeAsync();
        await RechainInTheEarlierFormatAsync();
        await _t.Ledger.EnsureSchemaAsync(); // what a host does at start-up after the upgrade
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task appends_are_refused_until_the_owner_upgrades_then_the_chain_is_signed_and_intact()
    {
        (await Should.ThrowAsync<ChainRefusedException>(() => _t.ProposeAsync())).Reason.ShouldBe(ChainRefusal.ForgedEntry);
        (await _t.Ledger.VerifyAsync()).Breaks.ShouldContain(b => b.Kind == ChainBreakKind.MacInvalid);

        var count = await _t.Ledger.UpgradeUnsignedChainAsync();

        count.ShouldBe((int)await _t.ScalarAsync<long>("select count(*) from {schema}.mt_events where type <> 'tombstone'"));
        await _t.ProposeAsync();
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(string.Join("; ", verification.Breaks));
        (await _t.Ledger.UpgradeUnsignedChainAsync()).ShouldBe(0);
        await Should.ThrowAsync<PostgresException>(() => _t.ExecuteAsync("delete from {schema}.ledger_chain"));
    }

    [Fact]
    public async Task a_row_changed_before_the_upgrade_is_refused_and_nothing_is_signed()
    {
        await _t.ExecuteAsync("update {schema}.mt_events set data = jsonb_set(data, '{approvedBy}', '\"mallory\"') where type = 'edit_approved'");
        var before = await _t.ScalarAsync<string>("select string_agg(seq_id || record_hash || coalesce(mac, '-'), ',' order by seq_id) from {schema}.ledger_chain");

        (await Should.ThrowAsync<InvalidOperationException>(() => _t.Ledger.UpgradeUnsignedChainAsync())).Message.ShouldContain("broken at event");

        (await _t.ScalarAsync<string>("select string_agg(seq_id || record_hash || coalesce(mac, '-'), ',' order by seq_id) from {schema}.ledger_chain")).ShouldBe(before);
    }

    /// <summary>Replaces the chain table by one in the earlier format, over the same rows, as the earlier release wrote it.</summary>
    private async Task RechainInTheEarlierFormatAsync()
    {
        await using var connection = new NpgsqlConnection(_t.ConnectionString);
        await connection.OpenAsync();
        var entries = new List<(long Seq, string Prev, string Hash)>();
        await using (var select = new NpgsqlCommand(
            $"select seq_id, id, stream_id, version, type, timestamp, data::text, is_archived from {_t.Schema}.mt_events where type <> 'tombstone' order by seq_id", connection))
        await using (var r = await select.ExecuteReaderAsync())
        {
            var prev = new string('0', 64);
            while (await r.ReadAsync())
            {
                var canonical = string.Join('\n', prev, r.GetInt64(0).ToString(CultureInfo.InvariantCulture), r.GetGuid(1).ToString("N"), r.GetGuid(2).ToString("N"),
                    r.GetInt64(3).ToString(CultureInfo.InvariantCulture), r.GetString(4),
                    r.GetFieldValue<DateTime>(5).ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture), r.GetString(6), r.GetBoolean(7) ? "archived" : "live");
                var hash = Sha256Hex.Of(Encoding.UTF8.GetBytes(canonical));
                entries.Add((r.GetInt64(0), prev, hash));
                prev = hash;
            }
        }
        var sql = new StringBuilder($"""
            drop table {_t.Schema}.ledger_chain;
            create table {_t.Schema}.ledger_chain (seq_id bigint primary key, prev_hash text not null, record_hash text not null);
            create trigger ledger_chain_insert_only before update or delete on {_t.Schema}.ledger_chain
                for each row execute function {_t.Schema}.ledger_insert_only();
            """);
        foreach (var (seq, prev, hash) in entries)
            sql.Append(CultureInfo.InvariantCulture, $"insert into {_t.Schema}.ledger_chain values ({seq}, '{prev}', '{hash}');\n");
        await using var rewrite = new NpgsqlCommand(sql.ToString(), connection);
        await rewrite.ExecuteNonQueryAsync();
    }
}
