using LiveEdit.Ledger.Storage;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>The ledger pushes each new head to its readers: one notification per chaining statement, on its schema's own channel.</summary>
[Collection(Collections.Postgres)]
public sealed class announcing_the_head(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!, _other = null!;

    public async Task InitializeAsync()
    {
        // The other first: creating the class's schema drops and re-creates the class's own schema, not the suffixed one.
        _other = await TestLedger.CreateAsync(db, GetType(), ApprovalPolicy.AutoApprove, suffix: "_other");
        _t = await TestLedger.CreateAsync(db, GetType(), ApprovalPolicy.AutoApprove);
    }

    public async Task DisposeAsync()
    {
        await _t.DisposeAsync();
        await _other.DisposeAsync();
    }

    [Fact]
    public async Task each_commit_notifies_its_schema_channel_with_the_new_head_and_no_other_schema_hears_it()
    {
        await using var listener = await ListenAsync(_t.Ledger.HeadChannel);
        await using var otherListener = await ListenAsync(_other.Ledger.HeadChannel);
        var heard = new List<string>();
        var otherHeard = new List<string>();
        listener.Notification += (_, e) => heard.Add(e.Payload);
        otherListener.Notification += (_, e) => otherHeard.Add(e.Payload);

        await _t.ActiveEditAsync();
        var head = await _t.Ledger.GetHeadAsync();
        await DrainAsync(listener, () => heard.Contains(head.ToString()));
        heard.ShouldContain(head.ToString());
        heard.Select(long.Parse).ShouldAllBe(v => v <= head);
        heard.ShouldBe(heard.Order().ToList(), "heads are announced in commit order");

        await DrainAsync(otherListener, () => false, TimeSpan.FromMilliseconds(300));
        otherHeard.ShouldBeEmpty("a ledger in another schema is not woken");
        _t.Ledger.HeadChannel.ShouldNotBe(_other.Ledger.HeadChannel);
    }

    [Fact]
    public async Task a_rolled_back_append_announces_nothing()
    {
        await using var listener = await ListenAsync(_t.Ledger.HeadChannel);
        var heard = new List<string>();
        listener.Notification += (_, e) => heard.Add(e.Payload);
        await using (var connection = new NpgsqlConnection(_t.ConnectionString))
        {
            await connection.OpenAsync();
            await using var tx = await connection.BeginTransactionAsync();
            await using var insert = new NpgsqlCommand(
                $"insert into {_t.Schema}.ledger_chain (seq_id, prev_seq, prev_hash, event_id, record_hash, mac) values (999999, 0, 'x', gen_random_uuid(), 'x', 'x')", connection, tx);
            await insert.ExecuteNonQueryAsync();
            await tx.RollbackAsync();
        }
        await DrainAsync(listener, () => false, TimeSpan.FromMilliseconds(300));
        heard.ShouldBeEmpty();
    }

    [Fact]
    public void a_channel_fits_postgres_identifiers_and_long_schemas_stay_apart()
    {
        var a = new string('a', 60) + "_1";
        var b = new string('a', 60) + "_2";
        HeadNotifications.Channel(a).Length.ShouldBeLessThanOrEqualTo(63);
        HeadNotifications.Channel(a).ShouldNotBe(HeadNotifications.Channel(b));
        HeadNotifications.Channel("ledger").ShouldBe("liveedit_head_ledger");
        Should.Throw<ArgumentException>(() => HeadNotifications.Channel("bad'; drop"));
    }

    private async Task<NpgsqlConnection> ListenAsync(string channel)
    {
        var connection = new NpgsqlConnection(_t.ConnectionString);
        await connection.OpenAsync();
        await using var listen = new NpgsqlCommand($"listen \"{channel}\"", connection);
        await listen.ExecuteNonQueryAsync();
        return connection;
    }

    private static async Task DrainAsync(NpgsqlConnection connection, Func<bool> done, TimeSpan? patience = null)
    {
        var deadline = DateTime.UtcNow + (patience ?? TimeSpan.FromSeconds(10));
        while (!done() && DateTime.UtcNow < deadline)
        {
            var left = deadline - DateTime.UtcNow;
            // Npgsql waits for ever on a timeout of 0 ms, and a TimeSpan under 1 ms becomes 0: never ask for less than 1 ms.
            if (left < TimeSpan.FromMilliseconds(1)) break;
            await connection.WaitAsync((int)Math.Ceiling(left.TotalMilliseconds));
        }
    }
}
