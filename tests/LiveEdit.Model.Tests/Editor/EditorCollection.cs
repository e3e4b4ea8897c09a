using Xunit;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// Editor tests seed torch's global generator and pin its thread count: they run alone, never beside another test
/// that touches the same process-wide state.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class EditorCollection
{
    public const string Name = "editor (torch global state)";
}
