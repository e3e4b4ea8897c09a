using System.Security.Cryptography;
using System.Text;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Blobs;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using Marten;
using Marten.Storage;
using Npgsql;

namespace LiveEdit.Ledger;

/// <summary>
/// The edit ledger: commands that append events (decided by <see cref="EditDecisions"/>), the blob store,
/// model versions and time travel, and the audit hash chain. Thread-safe; create one per store.
/// </summary>
/// <remarks>
/// Every append runs under a PostgreSQL advisory lock held for the whole transaction, so global
/// sequences are assigned and committed in order: a version, once visible, never changes, and the
/// hash chain is total. Commands read the edit without the lock and append with an expected stream
/// version; a writer that lost a race gets <see cref="ConcurrencyConflictException"/>. Any
/// <see cref="LedgerException"/> from a command means nothing was written.
/// <para>One concern per file: <c>EditLedger.Commands.cs</c> (commands), <c>EditLedger.Appending.cs</c> (the lock,
/// the transaction and the chain), <c>EditLedger.Edits.cs</c> (edit summaries), <c>EditLedger.Versions.cs</c> (versions,
/// time travel, the active set), <c>EditLedger.Audit.cs</c> (chained reads, verification, incidents) and
/// <c>EditLedger.Schema.cs</c> (creating and migrating the schema).</para>
/// </remarks>
public sealed partial class EditLedger
{
    private readonly IDocumentStore _store;
    private readonly LedgerOptions _options;
    private readonly string _schema;
    private readonly string _events;
    private readonly long _lockKey;
    private readonly HashChain _chain;

    /// <summary>A ledger over a store configured with <see cref="LedgerStore.ConfigureLedger"/>.</summary>
    public EditLedger(IDocumentStore store, LedgerOptions? options = null)
    {
        _store = store;
        _options = options ?? new LedgerOptions();
        _schema = store.Options.Events.DatabaseSchemaName;
        _events = $"{_schema}.mt_events";
        _lockKey = BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes("liveedit-ledger:" + _schema)), 0);
        _chain = new HashChain(_schema, _options.ChainKey ?? LedgerChainKey.Development);
        Blobs = new BlobStore(Connect, _schema, _options.MaxBlobBytes);
    }

    /// <summary>The content-addressed blob store in the same database.</summary>
    public BlobStore Blobs { get; }

    /// <summary>The ledger's last refusal to extend its chain, for health checks.</summary>
    public LedgerIntegrity Integrity { get; } = new();

    /// <summary>
    /// The ledger's own stream: <see cref="LedgerIncidentAcknowledged"/> events. Not an edit: never in edit
    /// listings, histories, versions or the model.
    /// </summary>
    public static readonly Guid IncidentStreamId = Guid.Parse("1ed9e700-0000-4000-8000-00000000c4a1");

    /// <summary>The approval policy in force.</summary>
    public ApprovalPolicy Policy => _options.Policy;

    /// <summary>Key of the PostgreSQL advisory lock that serialises appends to this ledger's schema.</summary>
    public long AppendLockKey => _lockKey;

    /// <summary>The underlying Marten store (for custom queries).</summary>
    public IDocumentStore Store => _store;

    /// <summary>SQL join that keeps only rows of <paramref name="alias"/> (mt_events) at a sequence the ledger chained.</summary>
    /// <remarks>On the sequence alone (a primary-key join): also matching the event id doubles the active-set query's time
    /// (the planner misjudges the two-column join) and stops no one, since whoever can replace a chained row can copy its
    /// id. A row changed at a chained sequence is caught by the next append's head check or by verify, not here.</remarks>
    private string Chained(string alias) => $"join {_schema}.ledger_chain c_{alias} on c_{alias}.seq_id = {alias}.seq_id";

    private NpgsqlConnection Connect() => _store.Storage.Database.CreateConnection(ConnectionUsage.ReadWrite);
}
