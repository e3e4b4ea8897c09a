using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace LiveEdit.Testing;

/// <summary>
/// What an insider with superuser rights does to hide a change to the ledger: recompute every hash-chain entry from
/// a sequence on with the chain's public algorithm (the canonical record form of the ledger's <c>HashChain</c>),
/// with every trigger switched off. Afterwards the chain walk alone finds nothing wrong.
/// </summary>
public static class ChainRewriter
{
    /// <summary>Recomputes <c>prev_hash</c> and <c>record_hash</c> of every chain entry at or after <paramref name="from"/>.</summary>
    /// <returns>How many entries were rewritten.</returns>
    public static async Task<int> RewriteFromAsync(string connectionString, string schema, long from)
    {
        var rows = new List<(long Seq, string Prev, string Hash)>();
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"""
                select e.seq_id, e.id, e.stream_id, e.version, e.type, e.timestamp, e.data::text, e.is_archived, c.prev_hash
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
                    prev,
                    r.GetInt64(0).ToString(CultureInfo.InvariantCulture),
                    r.GetGuid(1).ToString("N"),
                    r.GetGuid(2).ToString("N"),
                    r.GetInt64(3).ToString(CultureInfo.InvariantCulture),
                    r.GetString(4),
                    r.GetFieldValue<DateTime>(5).ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture),
                    r.GetString(6),
                    r.IsDBNull(7) ? "null" : r.GetBoolean(7) ? "archived" : "live");
                var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
                rows.Add((r.GetInt64(0), prev, hash));
                prev = hash;
            }
        }
        if (rows.Count == 0) return 0;
        await AsSuperuserAsync(connectionString, string.Concat(rows.Select(x =>
            $"update {schema}.ledger_chain set prev_hash = '{x.Prev}', record_hash = '{x.Hash}' where seq_id = {x.Seq};\n")));
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
