using LiveEdit.Inference.Endpoints;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// The warm-up query goes to the host's own listening address: wildcards and <c>localhost</c> become the loopback
/// address, a specific address is dialled as it is, a Unix socket by its path, and HTTPS endpoints are never used.
/// </summary>
public sealed class choosing_where_the_warm_up_query_goes
{
    [Theory]
    [InlineData("http://127.0.0.1:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://0.0.0.0:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://[::]:5080", "http://[::1]:5080/")]
    [InlineData("http://[::1]:5080", "http://[::1]:5080/")]
    [InlineData("http://localhost:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://+:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://*:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://10.0.0.5:5080", "http://10.0.0.5:5080/")]
    public void one_plain_http_address_is_dialled_on_loopback_where_it_can_be(string listening, string dialled)
    {
        var target = QueryPathWarmUp.ChooseTarget([listening]).ShouldNotBeNull();
        target.Uri.ToString().ShouldBe(dialled);
        target.UnixSocket.ShouldBeNull();
    }

    [Fact]
    public void loopback_is_preferred_to_a_specific_address_and_that_to_a_unix_socket()
    {
        QueryPathWarmUp.ChooseTarget(["http://unix:/run/liveedit.sock", "http://10.0.0.5:80", "http://127.0.0.1:81"])!.Uri.ToString().ShouldBe("http://127.0.0.1:81/");
        QueryPathWarmUp.ChooseTarget(["http://unix:/run/liveedit.sock", "http://10.0.0.5:8080"])!.Uri.ToString().ShouldBe("http://10.0.0.5:8080/");
        QueryPathWarmUp.ChooseTarget(["http://unix:/run/liveedit.sock"])!.UnixSocket.ShouldBe("/run/liveedit.sock");
    }

    [Fact]
    public void an_https_only_host_has_no_address_to_send_the_key_to()
    {
        QueryPathWarmUp.ChooseTarget(["https://127.0.0.1:5443", "https://[::]:5443"]).ShouldBeNull();
        QueryPathWarmUp.ChooseTarget(["https://127.0.0.1:5443", "http://127.0.0.1:5080"])!.Uri.ToString().ShouldBe("http://127.0.0.1:5080/");
        QueryPathWarmUp.ChooseTarget([]).ShouldBeNull();
    }
}
