using System.CommandLine;
using LiveEdit.Cli;

var root = new RootCommand("liveedit — lifelong knowledge editing for a vision-language model, over an auditable ledger.");
root.Subcommands.Add(ServicesCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
TrainEditorCommand.AttachTo(root);
root.Subcommands.Add(EvalEditorCommand.Create());
return root.Parse(args).Invoke();
