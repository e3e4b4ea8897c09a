using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.Web.Tests;

/// <summary>The browser tests share one PostgreSQL and run one class at a time: each starts a host that loads the model, and a browser.</summary>
[CollectionDefinition(Name)]
public sealed class WebCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "web";
}
