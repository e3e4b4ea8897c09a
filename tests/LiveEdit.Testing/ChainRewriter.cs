using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace LiveEdit.Testing;

/// <summary>
/// What an insider who holds both superuser rights and the chain key does to hide a change to the ledger: recompute
/// every hash-chain entry from a sequence on with the chain's public algorithm (the canonical record form, link and
/// MAC of the ledger's <c>HashChain</c>), with every trigger switched off. Afterwards the chain walk alone finds
/// nothing wrong; only signed checkpoints kept outside the database do.
/// </summary>
public static class ChainRewriter
{
    /// <summary>Recomputes <c>prev_hash</c>, <c>record_hash</c> and <c>mac</c> of every chain entry at or after <paramref name="from"/>.</summary>
    /// <returns>How many entries were rewritten.</returns>
    public static async Task<int> RewriteFromAsync(string connectionString, string schema, long from, byte[] chainKey)
    {
        var rows = new List<(long Seq, string Prev, string Hash, string Mac)>();
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"""
                select e.seq_id, e.id, e.stream_id, e.version, e.type, e.timestamp, e.data::text, e.is_archived, c.prev_hash, c.prev_seq
                from {schema}.mt_events e join {schema}.ledger_chain c on c.seq_id = e.seq_id
                where e.seq_id >= @from order by e.seq_id
                """, connection);
            command.Parameters.AddWithValue("from", from);
            await using var r = await command.ExecuteReaderAsync();
            string? prev = null;
            while (await r.ReadAsync())
            {
                prev ??= r.GetString(8);
                var canonical = string.Join('\n',
                    "liveedit-event-v2",
                    r.GetInt64(0).ToString(CultureInfo.InvariantCulture),
                    r.GetGuid(1).ToString("N"),
                    r.IsDBNull(2) ? "null" : r.GetGuid(2).ToString("N"),
                    r.GetInt64(3).ToString(CultureInfo.InvariantCulture),
                    r.GetString(4),
                    r.GetFieldValue<DateTime>(5).ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture),
                    r.GetString(6),
                    r.IsDBNull(7) ? "null" : r.GetBoolean(7) ? "archived" : "live");
                var rowSha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
                var prevSeq = r.IsDBNull(9) ? 0 : r.GetInt64(9);
                var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
                    $"liveedit-chain-v2\n{prevSeq.ToString(CultureInfo.InvariantCulture)}\n{prev}\n{rowSha}")));
                var mac = Convert.ToHexStringLower(HMACSHA256.HashData(chainKey, Encoding.UTF8.GetBytes("liveedit-chain-mac-v2\n" + hash)));
                rows.Add((r.GetInt64(0), prev, hash, mac));
                prev = hash;
            }
        }
        if (rows.Count == 0) return 0;
        await AsSuperuserAsync(connectionString, string.Concat(rows.Select(x =>
            $"update {schema}.ledger_chain set prev_hash = '{x.Prev}', record_hash = '{x.Hash}', mac = '{x.Mac}' where seq_id = {x.Seq};\n")));
        return rows.Count;
    }

    /// <summary>Runs <paramref name="sql"/> past every trigger (the insert-only guards included), as only a superuser can.</summary>
    public static async Task AsSuperuserAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("set session_replication_role = replica;\n" + sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
