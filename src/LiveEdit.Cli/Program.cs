using System.CommandLine;
using LiveEdit.Cli;

var root = new RootCommand("liveedit — lifelong knowledge editing for a vision-language model, over an auditable ledger.");
root.Subcommands.Add(ServicesCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
TrainEditorCommand.AttachTo(root);
root.Subcommands.Add(EvalEditorCommand.Create());
root.Subcommands.Add(HostCommands.CreateServe());
root.Subcommands.Add(HostCommands.CreateWorker());
root.Subcommands.Add(EditCommands.CreateEdit());
root.Subcommands.Add(EditCommands.CreateQuery());
root.Subcommands.Add(EditCommands.CreateLog());
root.Subcommands.Add(EditCommands.CreateDiff());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(VerifyCommand.Create());
root.Subcommands.Add(AuthCommands.Create());
return await root.Parse(args).InvokeAsync();
