using System.Text;

namespace LiveEdit.Ledger.Storage;

/// <summary>
/// The ledger's push to its readers: a statement-level trigger on <c>ledger_chain</c> calls <c>pg_notify</c> with the
/// highest sequence the statement chained, on a channel of the schema's own (<see cref="Channel"/>), so ledgers in other
/// schemas of the same database never wake each other. PostgreSQL delivers a notification when the appending transaction
/// commits and never for one that rolls back; a listener that is disconnected misses it, so a listener reads the
/// ledger's head when it (re)connects. The payload is a hint: anyone connected to the database may notify any channel,
/// so readers take the version from the ledger itself (see docs/serving.md).
/// </summary>
public static class HeadNotifications
{
    /// <summary>Start of every channel name.</summary>
    public const string Prefix = "liveedit_head_";

    // PostgreSQL identifiers (and so channel names) are at most 63 bytes.
    private const int MaxChannel = 63;

    /// <summary>The channel on which <paramref name="schema"/>'s ledger announces each new head.</summary>
    public static string Channel(string schema)
    {
        LedgerSchema.RequireIdentifier(schema, nameof(schema));
        var plain = Prefix + schema;
        return plain.Length <= MaxChannel ? plain : Prefix + Sha256Hex.Of(Encoding.UTF8.GetBytes(schema))[..(MaxChannel - Prefix.Length)];
    }

    /// <summary>SQL that creates (or replaces) the notifying trigger; run with the chain table's owner.</summary>
    internal static string SchemaSql(string schema) => $"""
        create or replace function {schema}.ledger_chain_notify() returns trigger language plpgsql as $$
        declare head bigint;
        begin
            select max(seq_id) into head from chained_now;
            if head is not null then
                perform pg_notify('{Channel(schema)}', head::text);
            end if;
            return null;
        end $$;
        drop trigger if exists ledger_chain_notify on {schema}.ledger_chain;
        create trigger ledger_chain_notify after insert on {schema}.ledger_chain
            referencing new table as chained_now
            for each statement execute function {schema}.ledger_chain_notify();
        """;
}
