using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[CollectionDefinition(Collections.Postgres)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>;
