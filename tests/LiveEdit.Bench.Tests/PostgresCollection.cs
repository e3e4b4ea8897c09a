using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.Bench.Tests;

[CollectionDefinition(Collections.Postgres)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>;
