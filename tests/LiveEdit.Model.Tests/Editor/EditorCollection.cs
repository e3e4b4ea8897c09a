using Xunit;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// Tests that seed torch's global generator or pin its thread count (the editor's, and the runtime, model and
/// checkpoint tests): they run alone, never beside another test that touches the same process-wide state.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EditorCollection
{
    public const string Name = "editor (torch global state)";
}
