using LiveEdit.Hosting.Serving;
using Microsoft.Extensions.Configuration;
using Shouldly;
using Xunit;

namespace LiveEdit.Hosting.Tests;

public sealed class configuring_how_the_head_follows
{
    private static HeadFollowingSettings From(string key, string value) =>
        HeadFollowingSettings.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"Serving:Head:{key}"] = value }).Build());

    [Theory]
    [InlineData("SafetyPoll", "00:00:00")]          // a wait of zero on the listening connection never times out
    [InlineData("SafetyPoll", "00:00:00.0004")]     // rounds to zero milliseconds
    [InlineData("SafetyPoll", "-00:00:05")]
    [InlineData("MinVersionPatience", "-00:00:01")]
    [InlineData("MinVersionPatience", "01:00:00")]
    [InlineData("ReconnectDelay", "00:00:00")]      // would retry a lost database in a tight loop
    [InlineData("MaxReconnectDelay", "00:00:00.1")] // below the first delay
    public void a_setting_out_of_range_is_refused_by_name(string key, string value) =>
        Should.Throw<InvalidOperationException>(() => From(key, value)).Message.ShouldContain($"Serving:Head:{key}");

    [Fact]
    public void the_defaults_and_settings_in_range_are_taken()
    {
        HeadFollowingSettings.From(null).SafetyPoll.ShouldBe(TimeSpan.FromSeconds(30));
        From("SafetyPoll", "01:00:00").SafetyPoll.ShouldBe(TimeSpan.FromHours(1));
        From("MinVersionPatience", "00:00:00").MinVersionPatience.ShouldBe(TimeSpan.Zero);
    }
}
