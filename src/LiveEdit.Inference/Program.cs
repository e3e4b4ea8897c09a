using LiveEdit.Inference;

try
{
    var app = InferenceApp.Build(args);
    await InferenceApp.RunAsync(app);
}
catch (InvalidOperationException e)
{
    // A missing setting or an unmigrated ledger: one line, not a stack trace.
    Console.Error.WriteLine($"liveedit inference: {e.Message}");
    return 1;
}
return 0;

/// <summary>Entry point type, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
