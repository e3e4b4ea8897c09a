using LiveEdit.Research.World;
using LiveEdit.Testing;

namespace LiveEdit.System.Tests;

/// <summary>
/// Host and worker settings for one test class: its own ledger schema and its own queue names. The hosts run as a
/// deployment does: connected as the application role, over a schema the owner role migrated (<see cref="MigrateAsync"/>).
/// </summary>
internal static class Settings
{
    /// <summary>Creates the class's schema (plus <paramref name="suffix"/>) as the owner role and migrates it; returns its name.</summary>
    public static Task<string> MigrateAsync(PostgresFixture postgres, Type testClass, string suffix = "") => HostSetup.MigrateAsync(postgres, testClass, suffix);

    public static Dictionary<string, string?> InMemory(PostgresFixture postgres, string schema, string policy = "AutoApprove") => HostSetup.InMemory(postgres, schema, policy);

    public static Dictionary<string, string?> RabbitHost(PostgresFixture postgres, string schema, Uri broker, string prefix, string policy = "AutoApprove") => new Dictionary<string, string?>
    {
        ["ConnectionStrings:Ledger"] = postgres.AppConnectionString,
        ["ConnectionStrings:RabbitMq"] = broker.ToString(),
        ["Ledger:Schema"] = schema,
        ["Ledger:ApprovalPolicy"] = policy,
        ["Transport:Kind"] = "RabbitMq",
        ["Transport:QueuePrefix"] = prefix,
        ["Workers:InProcess"] = "false",
    }.WithKeys();

    public static Dictionary<string, string> RabbitWorker(PostgresFixture postgres, string schema, Uri broker, string prefix, string workerId,
        string policy = "AutoApprove", TimeSpan? delayBeforeRecord = null, TimeSpan? reconcileEvery = null, TimeSpan? pendingAfter = null) => new()
    {
        ["ConnectionStrings__Ledger"] = postgres.AppConnectionString,
        ["ConnectionStrings__RabbitMq"] = broker.ToString(),
        ["Ledger__Schema"] = schema,
        ["Ledger__ApprovalPolicy"] = policy,
        ["Transport__Kind"] = "RabbitMq",
        ["Transport__QueuePrefix"] = prefix,
        ["Workers__Id"] = workerId,
        ["Workers__FaultInjection__DelayBeforeRecord"] = (delayBeforeRecord ?? TimeSpan.Zero).ToString("c"),
        ["Workers__Reconciler__Every"] = (reconcileEvery ?? TimeSpan.FromMinutes(10)).ToString("c"),
        ["Workers__Reconciler__PendingAfter"] = (pendingAfter ?? TimeSpan.FromMinutes(10)).ToString("c"),
    };

    /// <summary>SynthWorld edit cases the tests edit with (evaluation split, fixed seed).</summary>
    public static IReadOnlyList<EditCase> Cases(int count, int seed = 11) => HostSetup.Cases(count, seed);
}
