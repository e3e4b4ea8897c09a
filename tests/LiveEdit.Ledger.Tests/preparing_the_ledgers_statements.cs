using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

public sealed class preparing_the_ledgers_statements
{
    private const string Given = "Host=db.example;Port=5432;Username=liveedit_app;Password=secret;Database=liveedit";

    [Fact]
    public void a_ledger_store_prepares_its_repeated_statements()
    {
        var prepared = new NpgsqlConnectionStringBuilder(LedgerStore.WithPreparedStatements(Given));
        prepared.MaxAutoPrepare.ShouldBe(64);
        prepared.AutoPrepareMinUsages.ShouldBe(2);
        (prepared.Host, prepared.Username, prepared.Password, prepared.Database).ShouldBe(("db.example", "liveedit_app", "secret", "liveedit"));

        using var store = LedgerStore.Create(Given, "prepared_statements_check");
        using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        new NpgsqlConnectionStringBuilder(connection.ConnectionString).MaxAutoPrepare.ShouldBe(64);
    }

    [Theory]
    [InlineData("Max Auto Prepare=0")]
    [InlineData("MaxAutoPrepare=5")]
    [InlineData("max auto prepare=20")]
    public void a_connection_string_that_chooses_its_own_preparation_keeps_it(string choice)
    {
        var given = Given + ";" + choice;
        LedgerStore.WithPreparedStatements(given).ShouldBe(given);
    }
}
