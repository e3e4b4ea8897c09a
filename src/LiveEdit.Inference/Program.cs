using LiveEdit.Inference;

try
{
    if (args is ["migrate", ..])
    {
        // The deployment's one-shot migration, run with the owner role's settings (docker-compose's migrate service).
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args[1..]).Build();
        var (schema, role) = await LiveEdit.Hosting.Startup.LedgerStartup.MigrateAsync(configuration);
        Console.WriteLine($"ledger schema '{schema}' is up to date; role {role} may append and read, not rewrite");
        return 0;
    }
    var app = InferenceApp.Build(args);
    await InferenceApp.RunAsync(app);
}
catch (Exception e) when (e is InvalidOperationException or ArgumentException or Npgsql.NpgsqlException)
{
    // A missing setting or an unmigrated ledger: one line, not a stack trace.
    Console.Error.WriteLine($"liveedit inference: {e.Message}");
    return 1;
}
return 0;

/// <summary>Entry point type, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
