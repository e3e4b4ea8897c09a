using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class wiring_the_ledger_into_a_host(PostgresFixture db)
{
    [Fact]
    public async Task add_ledger_registers_a_working_ledger_with_its_options()
    {
        var schema = await db.CreateSchemaAsync(GetType());
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddLedger(db.ConnectionString, o => o.Policy = ApprovalPolicy.AutoApprove, schema);
        await using var provider = services.BuildServiceProvider();

        var ledger = provider.GetRequiredService<EditLedger>();
        await ledger.EnsureSchemaAsync();
        var image = await ledger.Blobs.PutAsync("host image"u8.ToArray());
        var result = await ledger.ProposeAsync(new ProposeEdit(Guid.NewGuid(), image, "p", "t", "", "alice"));

        ledger.Policy.ShouldBe(ApprovalPolicy.AutoApprove);
        result.Events.OfType<EditApproved>().ShouldHaveSingleItem();
        provider.GetRequiredService<IDocumentStore>().Options.DatabaseSchemaName.ShouldBe(schema);
    }
}
