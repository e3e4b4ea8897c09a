using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.Hosting.Tests;

/// <summary>The consumers' tests share one PostgreSQL and one loaded model, and run one class at a time (one model device).</summary>
[CollectionDefinition(Name)]
public sealed class HostingCollection : ICollectionFixture<PostgresFixture>, ICollectionFixture<ModelFixture>
{
    public const string Name = "hosting";
}
