using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>The host serves HTTPS with a certificate file named in its configuration.</summary>
[Collection(SystemCollection.Name)]
public sealed class serving_over_https(PostgresFixture postgres) : SchemaPerClass(postgres), IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("liveedit-tls-");

    [Fact]
    public async Task a_certificate_file_in_the_configuration_serves_https_with_that_certificate()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(_folder.FullName, "host.pfx");
        await File.WriteAllBytesAsync(path, certificate.Export(X509ContentType.Pfx, "test-password"));

        var settings = Settings.InMemory(Postgres, Schema);
        settings["Kestrel:Certificates:Default:Path"] = path;
        settings["Kestrel:Certificates:Default:Password"] = "test-password";
        await using var host = await RunningHost.StartAsync(settings, urls: "https://127.0.0.1:0");
        host.Address.Scheme.ShouldBe("https");

        string? presented = null;
        using var handler = new HttpClientHandler
        {
            // Trust exactly this certificate, as a client pinned to it would.
            ServerCertificateCustomValidationCallback = (_, cert, _, _) => (presented = cert?.Thumbprint) == certificate.Thumbprint,
        };
        using var client = new HttpClient(handler) { BaseAddress = host.Address };
        (await client.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        presented.ShouldBe(certificate.Thumbprint);
        client.DefaultRequestHeaders.Add("X-Api-Key", RunningHost.AuditorKey);
        (await client.GetAsync("/ledger/head")).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var plain = new HttpClient { BaseAddress = host.Address };
        await Should.ThrowAsync<HttpRequestException>(() => plain.GetAsync("/health/live"), "a client that does not trust the certificate is refused");
    }

    public void Dispose() => _folder.Delete(recursive: true);
}
