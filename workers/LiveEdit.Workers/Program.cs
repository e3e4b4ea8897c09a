using LiveEdit.Workers;

try
{
    var host = WorkerApp.Build(args);
    await WorkerApp.RunAsync(host);
}
catch (InvalidOperationException e)
{
    // A missing setting or an unmigrated ledger: one line, not a stack trace.
    Console.Error.WriteLine($"liveedit worker: {e.Message}");
    return 1;
}
return 0;
