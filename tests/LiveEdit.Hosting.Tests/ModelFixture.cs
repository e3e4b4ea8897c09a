using LiveEdit.Hosting.Serving;

namespace LiveEdit.Hosting.Tests;

/// <summary>The committed checkpoints, loaded once for the test run as a host loads them.</summary>
public sealed class ModelFixture : IDisposable
{
    public ModelRuntime Runtime { get; } = ModelRuntime.Load(new ModelSettings().ResolvedAgainst(ContentRoot.Find()));

    public void Dispose() => Runtime.Dispose();
}
