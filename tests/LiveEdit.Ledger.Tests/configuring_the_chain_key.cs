using Microsoft.Extensions.Configuration;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

public sealed class configuring_the_chain_key
{
    private static IConfiguration Settings(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void a_missing_key_is_refused_outside_development_with_what_to_set()
    {
        var refused = Should.Throw<InvalidOperationException>(() => LedgerChainKey.FromConfiguration(Settings(), isDevelopment: false));
        refused.Message.ShouldContain("Ledger__ChainKeyFile");
        refused.Message.ShouldContain("Ledger__ChainKey");
    }

    [Fact]
    public void development_falls_back_to_the_public_key_loudly()
    {
        var warnings = new List<string>();
        LedgerChainKey.FromConfiguration(Settings(), isDevelopment: true, warnings.Add).ShouldBe(LedgerChainKey.Development);
        warnings.ShouldHaveSingleItem().ShouldContain("PUBLIC development chain key");
    }

    [Fact]
    public void a_key_is_read_from_base64_or_from_a_file_and_must_be_long_enough()
    {
        var key = LedgerChainKey.NewRandom();
        LedgerChainKey.FromConfiguration(Settings(("Ledger:ChainKey", Convert.ToBase64String(key))), isDevelopment: false).ShouldBe(key);

        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, Convert.ToBase64String(key) + "\n");
            LedgerChainKey.FromConfiguration(Settings(("Ledger:ChainKeyFile", file)), isDevelopment: false).ShouldBe(key);
        }
        finally
        {
            File.Delete(file);
        }

        Should.Throw<InvalidOperationException>(() => LedgerChainKey.FromConfiguration(Settings(("Ledger:ChainKey", Convert.ToBase64String(new byte[16]))), false))
            .Message.ShouldContain("at least 32");
        Should.Throw<InvalidOperationException>(() => LedgerChainKey.FromConfiguration(Settings(("Ledger:ChainKey", "not base64!")), false))
            .Message.ShouldContain("not base64");
        Should.Throw<InvalidOperationException>(() => LedgerChainKey.FromConfiguration(Settings(("Ledger:ChainKeyFile", "/nonexistent/chain.key")), false))
            .Message.ShouldContain("/nonexistent/chain.key");
    }
}
