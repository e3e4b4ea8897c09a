using JasperFx;
using JasperFx.Events;
using JasperFx.Events.Projections;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Projections;
using Marten;
using Weasel.Core;

namespace LiveEdit.Ledger;

/// <summary>
/// Marten configuration of the ledger: one schema holding the events (one stream per edit, Guid ids),
/// the inline <see cref="EditSummary"/> projection, and (created by <see cref="EditLedger.EnsureSchemaAsync"/>)
/// the blob and hash-chain tables. The ledger has no asynchronous projection: nothing needs Marten's daemon.
/// </summary>
public static class LedgerStore
{
    /// <summary>Schema used when none is given.</summary>
    public const string DefaultSchema = "ledger";

    /// <summary>A ready document store for the ledger in <paramref name="schema"/>.</summary>
    public static DocumentStore Create(string connectionString, string schema = DefaultSchema, Action<StoreOptions>? configure = null) =>
        DocumentStore.For(options =>
        {
            options.ConfigureLedger(connectionString, schema);
            configure?.Invoke(options);
        });

    /// <summary>Applies the ledger's configuration to Marten options (for <c>services.AddMarten(o => o.ConfigureLedger(…))</c>).</summary>
    public static StoreOptions ConfigureLedger(this StoreOptions options, string connectionString, string schema = DefaultSchema)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(schema);
        options.Connection(WithPreparedStatements(connectionString));
        options.DatabaseSchemaName = schema;
        options.Events.DatabaseSchemaName = schema;
        options.Events.StreamIdentity = StreamIdentity.AsGuid;
        options.Events.AppendMode = EventAppendMode.Rich;
        options.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase);
        options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
        // The active-set road's partial index (EditLedger.ActiveRoadIndexSql) is the ledger's own: Marten's migration leaves it be.
        options.Events.IgnoreIndex(EditLedger.ActiveRoadIndex);
        options.Events.IgnoreIndex(EditLedger.VersionTimeIndex);
        // So is the reconciler's partial index on the summaries (EditLedger.AwaitingExpertIndexSql).
        options.Schema.For<EditSummary>().IgnoreIndex(EditLedger.AwaitingExpertIndex);

        // Stable type names: the version queries and the hash chain read them from mt_events.type.
        options.Events.MapEventType<EditProposed>(EventTypeNames.Proposed);
        options.Events.MapEventType<EditApproved>(EventTypeNames.Approved);
        options.Events.MapEventType<EditRejected>(EventTypeNames.Rejected);
        options.Events.MapEventType<ExpertGenerated>(EventTypeNames.ExpertGenerated);
        options.Events.MapEventType<EditActivated>(EventTypeNames.Activated);
        options.Events.MapEventType<EditRetracted>(EventTypeNames.Retracted);
        options.Events.MapEventType<EditSuperseded>(EventTypeNames.Superseded);
        options.Events.MapEventType<ExpertGenerationFailed>(EventTypeNames.GenerationFailed);
        options.Events.MapEventType<Audit.LedgerIncidentAcknowledged>(EventTypeNames.IncidentAcknowledged);
        options.Events.MapEventType<Policies.RoutingPolicySet>(EventTypeNames.RoutingPolicySet);

        options.Projections.Add<EditSummaryProjection>(ProjectionLifecycle.Inline);
        return options;
    }

    /// <summary>
    /// <paramref name="connectionString"/> with Npgsql's automatic preparation on (<c>Max Auto Prepare=64</c>, <c>Auto
    /// Prepare Min Usages=2</c>) unless it sets <c>Max Auto Prepare</c> itself.
    /// </summary>
    /// <remarks>An append sends the same dozen statements again and again (the lock, Marten's stream and event writes, the
    /// summary upsert, the chain's head check and insert); prepared once per connection, PostgreSQL stops parsing and planning
    /// them per call, about a fifth of its CPU per appended event (docs/ledger.md, "What limits the append rate").</remarks>
    public static string WithPreparedStatements(string connectionString)
    {
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (given.Keys.Cast<string>().Any(k => k.Replace(" ", "", StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase)))
            return connectionString;
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 64, AutoPrepareMinUsages = 2 };
        return builder.ConnectionString;
    }
}

/// <summary>Names under which the events are stored in <c>mt_events.type</c>.</summary>
public static class EventTypeNames
{
    public const string Proposed = "edit_proposed";
    public const string Approved = "edit_approved";
    public const string Rejected = "edit_rejected";
    public const string ExpertGenerated = "expert_generated";
    public const string Activated = "edit_activated";
    public const string Retracted = "edit_retracted";
    public const string Superseded = "edit_superseded";
    public const string GenerationFailed = "expert_generation_failed";

    /// <summary>An incident acknowledged by the database owner, on <see cref="EditLedger.IncidentStreamId"/>; never an edit event.</summary>
    public const string IncidentAcknowledged = "ledger_incident_acknowledged";

    /// <summary>The routing policy in force from this version on, on <see cref="EditLedger.RoutingPolicyStreamId"/>; never an edit event.</summary>
    public const string RoutingPolicySet = "routing_policy_set";

    /// <summary>
    /// Marten fills the sequence numbers of a failed append (e.g. a lost concurrency race) with
    /// tombstone events on a stream of its own. They are not ledger events: versions, the head and the
    /// hash chain skip them.
    /// </summary>
    public const string MartenTombstone = "tombstone";
}
