using LiveEdit.Inference.Auth;
using LiveEdit.Ledger;
using LiveEdit.Research.World;

namespace LiveEdit.Testing.Hosts;

/// <summary>What a test does before it starts a host: a migrated schema of its own, the test keys, edit cases.</summary>
public static class HostSetup
{
    /// <summary>Creates the class's schema (plus <paramref name="suffix"/>) as the owner role and migrates it; returns its name.</summary>
    public static async Task<string> MigrateAsync(PostgresFixture postgres, Type testClass, string suffix = "")
    {
        var schema = await postgres.CreateOwnedSchemaAsync(testClass, suffix);
        await using var store = LedgerStore.Create(postgres.OwnerConnectionString, schema);
        await new EditLedger(store).MigrateAsync(postgres.AppRole);
        return schema;
    }

    /// <summary>
    /// Settings of a host on the schema as the application role, with the workers in process over the in-memory transport,
    /// a reconciler that looks every second, and the test keys.
    /// </summary>
    public static Dictionary<string, string?> InMemory(PostgresFixture postgres, string schema, string policy) => new Dictionary<string, string?>
    {
        ["ConnectionStrings:Ledger"] = postgres.AppConnectionString,
        ["Ledger:Schema"] = schema,
        ["Ledger:ApprovalPolicy"] = policy,
        ["Transport:Kind"] = "InMemory",
        ["Workers:InProcess"] = "true",
        ["Workers:Reconciler:Every"] = "00:00:01",
        ["Workers:Reconciler:PendingAfter"] = "00:00:05",
    }.WithKeys();

    /// <summary>
    /// The four test keys (the development keys' secrets, alice/bob/carol/dana) added to <paramref name="settings"/> as
    /// SHA-256 hashes, as a production host takes them: the test hosts do not run in the Development environment.
    /// </summary>
    public static Dictionary<string, string?> WithKeys(this Dictionary<string, string?> settings)
    {
        var keys = DevelopmentKeys.All;
        for (var i = 0; i < keys.Count; i++)
        {
            settings[$"Auth:Keys:{i}:User"] = keys[i].User;
            settings[$"Auth:Keys:{i}:Roles:0"] = keys[i].Role;
            settings[$"Auth:Keys:{i}:Sha256"] = ApiKeyOptions.Hash(keys[i].Secret);
        }
        return settings;
    }

    /// <summary>SynthWorld edit cases the tests edit with (evaluation split, fixed seed).</summary>
    public static IReadOnlyList<EditCase> Cases(int count, int seed = 11) =>
        new SynthWorld(WorldConfig.Default).EditCases(EditSplit.EditorEval, count, seed);
}
