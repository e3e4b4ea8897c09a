using System.CommandLine;
using LiveEdit.Cli;
using LiveEdit.Cli.Research;

var root = new RootCommand("liveedit — lifelong knowledge editing for a vision-language model, over an auditable ledger.");
// The user's commands, in the order a newcomer meets them.
root.Subcommands.Add(ServicesCommand.Create());
root.Subcommands.Add(HostCommands.CreateServe());
root.Subcommands.Add(HostCommands.CreateWorker());
root.Subcommands.Add(EditAndQueryCommands.CreateEdit());
root.Subcommands.Add(EditAndQueryCommands.CreateQuery());
root.Subcommands.Add(EditAndQueryCommands.CreateLog());
root.Subcommands.Add(EditAndQueryCommands.CreateDiff());
root.Subcommands.Add(VerifyCommand.Create());
root.Subcommands.Add(AuditCommands.Create());
root.Subcommands.Add(PolicyCommands.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
var ledger = LedgerCommands.Create();
CheckpointCommands.AttachTo(ledger);
root.Subcommands.Add(ledger);
MigrateCommand.AttachTo(root);
root.Subcommands.Add(AuthCommands.Create());
root.Subcommands.Add(UsersCommands.Create());
// The lab: what trained and evaluated the committed models. Listed apart in --help.
var train = TrainCommand.Create();
root.Subcommands.Add(train);
TrainEditorCommand.AttachTo(root);
var eval = EvalEditorCommand.Create();
root.Subcommands.Add(eval);
CliHelp.GroupResearch(root, [train, eval]);
return await CliErrors.RunAsync(root, args);
