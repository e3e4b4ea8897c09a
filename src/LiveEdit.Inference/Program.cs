using LiveEdit.Inference;

var app = InferenceApp.Build(args);
await InferenceApp.RunAsync(app);

/// <summary>Entry point type, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
