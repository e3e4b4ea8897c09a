using System.Text;
using System.Text.Json;
using LiveEdit.Ledger.Errors;
using Marten;
using Marten.Storage;
using Npgsql;
using NpgsqlTypes;

namespace LiveEdit.Ledger.Queries;

/// <summary>
/// The per-query records in the ledger's PostgreSQL schema (<see cref="QueryRecordSchema"/>): appended in batches by the
/// host's writer, read by auditors, and thinned only by <see cref="ExpireAsync"/>. Thread-safe.
/// </summary>
public sealed class QueryRecordStore : IQueryRecords
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly Func<NpgsqlConnection> _connect;
    private readonly string _schema;
    private readonly string _table;

    /// <summary>The records kept beside <paramref name="ledger"/>, through the same connection settings.</summary>
    public QueryRecordStore(EditLedger ledger) : this(ledger.Store) { }

    /// <summary>The records in the schema of a store configured with <see cref="LedgerStore.ConfigureLedger"/>.</summary>
    public QueryRecordStore(IDocumentStore store)
    {
        _schema = store.Options.Events.DatabaseSchemaName;
        _table = $"{_schema}.{QueryRecordSchema.Table}";
        _connect = () => store.Storage.Database.CreateConnection(ConnectionUsage.ReadWrite);
    }

    /// <summary>Appends <paramref name="records"/> in one statement; all or nothing.</summary>
    public Task AppendAsync(IReadOnlyList<NewQueryRecord> records, CancellationToken ct = default) => InsertAsync(records, rehearsal: false, ct);

    /// <summary>
    /// Runs the statement <see cref="AppendAsync"/> runs, with the same parameters, selecting no row: nothing is written and
    /// no record id is taken, but the connection, the statement's parameter types and the code that sends them have all
    /// run once (a host's warm-up does this before it is ready, so its first client's record is not the first write).
    /// </summary>
    public Task RehearseAppendAsync(IReadOnlyList<NewQueryRecord> records, CancellationToken ct = default) => InsertAsync(records, rehearsal: true, ct);

    private async Task InsertAsync(IReadOnlyList<NewQueryRecord> records, bool rehearsal, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0) return;
        await using var connection = _connect();
        await connection.OpenAsync(ct);
        await using var insert = new NpgsqlCommand(
            $"insert into {_table} (at, username, version, image_sha256, prompt_sha256, answer, experts) select * from unnest(@at, @u, @v, @i, @p, @a, @e)"
            + (rehearsal ? " limit 0" : ""),
            connection);
        insert.Parameters.AddWithValue("at", records.Select(r => r.At.ToUniversalTime()).ToArray());
        insert.Parameters.AddWithValue("u", records.Select(r => r.User).ToArray());
        insert.Parameters.AddWithValue("v", records.Select(r => r.Version).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("i", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = records.Select(r => (object?)r.ImageSha256 ?? DBNull.Value).ToArray() });
        insert.Parameters.AddWithValue("p", records.Select(r => r.PromptSha256).ToArray());
        insert.Parameters.AddWithValue("a", records.Select(r => r.Answer).ToArray());
        insert.Parameters.Add(new NpgsqlParameter("e", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = records.Select(r => ExpertsJson(r.Experts)).ToArray() });
        await insert.ExecuteNonQueryAsync(ct);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<QueryRecord>> FindAsync(QueryRecordFilter filter, CancellationToken ct = default)
    {
        Validate(filter);
        var where = new List<string>();
        await using var connection = _connect();
        await connection.OpenAsync(ct);
        await using var select = new NpgsqlCommand { Connection = connection };
        if (filter.From is { } from)
        {
            where.Add("at >= @from");
            select.Parameters.AddWithValue("from", from.ToUniversalTime());
        }
        if (filter.To is { } to)
        {
            where.Add("at < @to");
            select.Parameters.AddWithValue("to", to.ToUniversalTime());
        }
        if (filter.ImageSha256 is { } image)
        {
            where.Add("image_sha256 = @image");
            select.Parameters.AddWithValue("image", image);
        }
        if (filter.User is { } user)
        {
            where.Add("username = @user");
            select.Parameters.AddWithValue("user", user);
        }
        if (filter.EditId is { } edit)
        {
            where.Add("experts @> @edit");
            select.Parameters.Add(new NpgsqlParameter("edit", NpgsqlDbType.Jsonb) { Value = EditPattern(edit) });
        }
        select.CommandText = $"""
            select id, at, username, version, image_sha256, prompt_sha256, answer, experts::text from {_table}
            {(where.Count == 0 ? "" : "where " + string.Join(" and ", where))}
            order by at desc, id desc limit @take
            """;
        select.Parameters.AddWithValue("take", filter.Take);
        var records = new List<QueryRecord>();
        await using var reader = await select.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            records.Add(new QueryRecord(reader.GetInt64(0), new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero), reader.GetString(2), reader.GetInt64(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetString(5), reader.GetString(6),
                JsonSerializer.Deserialize<FiredExpert[]>(reader.GetString(7), Json) ?? []));
        }
        return records;
    }

    /// <inheritdoc/>
    public async Task<ExpertFiring> FiringAsync(Guid editId, CancellationToken ct = default)
    {
        await using var connection = _connect();
        await connection.OpenAsync(ct);
        await using var select = new NpgsqlCommand($"""
            select count(*), coalesce(avg(x.weight), 0), coalesce(max(x.weight), 0), min(q.at), max(q.at)
            from {_table} q cross join lateral jsonb_to_recordset(q.experts) as x("editId" uuid, weight double precision)
            where q.experts @> @pattern and x."editId" = @edit
            """, connection);
        select.Parameters.Add(new NpgsqlParameter("pattern", NpgsqlDbType.Jsonb) { Value = EditPattern(editId) });
        select.Parameters.AddWithValue("edit", editId);
        await using var reader = await select.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        DateTimeOffset? At(int i) => reader.IsDBNull(i) ? null : new DateTimeOffset(reader.GetDateTime(i), TimeSpan.Zero);
        return new ExpertFiring(editId, reader.GetInt64(0), reader.GetDouble(1), reader.GetDouble(2), At(3), At(4));
    }

    /// <summary>
    /// Removes, in one statement, the records older than <paramref name="keepDays"/> whole days by the database's clock;
    /// returns how many. Runs as the owner's retention function: the application role has no DELETE of its own.
    /// </summary>
    /// <exception cref="InvalidEditInputException"><paramref name="keepDays"/> is below 1.</exception>
    public async Task<long> ExpireAsync(int keepDays, CancellationToken ct = default)
    {
        if (keepDays < 1) throw new InvalidEditInputException("keepDays", $"must be at least 1, got {keepDays}.");
        await using var connection = _connect();
        await connection.OpenAsync(ct);
        await using var expire = new NpgsqlCommand($"select {_schema}.ledger_queries_expire(@days)", connection);
        expire.Parameters.AddWithValue("days", keepDays);
        return (long)(await expire.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Throws <see cref="InvalidEditInputException"/> naming the first field of <paramref name="filter"/> out of range.</summary>
    public static void Validate(QueryRecordFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (filter.Take is < 1 or > QueryRecordLimits.MaxTake)
            throw new InvalidEditInputException("take", $"must be between 1 and {QueryRecordLimits.MaxTake}, got {filter.Take}.");
        if (filter.From is { } from && filter.To is { } to && from >= to)
            throw new InvalidEditInputException("to", $"must be after 'from' ({from:O}), got {to:O}.");
        if (filter.ImageSha256 is { } image && !Sha256Hex.IsValid(image))
            throw new InvalidEditInputException("imageSha256", "must be a SHA-256 as 64 lower-case hex characters.");
        if (filter.User is { } user && (string.IsNullOrWhiteSpace(user) || user.Length > QueryRecordLimits.MaxUserLength))
            throw new InvalidEditInputException("user", $"must be a user name of 1 to {QueryRecordLimits.MaxUserLength} characters.");
    }

    private static string ExpertsJson(IReadOnlyList<FiredExpert> experts) => JsonSerializer.Serialize(experts, Json);

    private static string EditPattern(Guid editId) => new StringBuilder("[{\"editId\":\"").Append(editId.ToString("D")).Append("\"}]").ToString();
}
