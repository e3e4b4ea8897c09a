using LiveEdit.Workers;

var host = WorkerApp.Build(args);
await WorkerApp.RunAsync(host);
