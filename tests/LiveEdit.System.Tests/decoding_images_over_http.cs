using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using LiveEdit.Testing;
using Shouldly;
using StbImageWriteSharp;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>Large images over HTTP: a phone photo is accepted, and decodes beyond the configured number wait briefly, then get 503.</summary>
[Collection(SystemCollection.Name)]
public sealed class decoding_images_over_http(PostgresFixture postgres) : HostPerClass(postgres)
{
    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema)
    {
        var settings = Settings.InMemory(postgres, schema);
        settings["Images:MaxConcurrentDecodes"] = "1";
        settings["Images:DecodeWaitMilliseconds"] = "0";
        return settings;
    }

    [Fact]
    public async Task a_12_megapixel_phone_jpeg_is_accepted_as_an_edit_image()
    {
        var jpeg = Jpeg(4000, 3000);
        using var client = Host.Client(RunningHost.ProposerKey);
        using var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(jpeg) { Headers = { ContentType = new MediaTypeHeaderValue("image/jpeg") } }, "image", "phone.jpg" },
            { new StringContent("what is this creature called?"), "prompt" },
            { new StringContent("babro"), "target" },
        };
        using var response = await client.PostAsync("/edits", form);
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task decodes_beyond_the_limit_are_answered_503_with_retry_after_not_queued_in_memory()
    {
        var png = HostileImages.ZeroPng(8000, 5000, 8, 6); // the largest accepted: 40 MP of RGBA, about a second to decode
        var requests = Enumerable.Range(0, 4).Select(async _ =>
        {
            using var client = Host.Client(RunningHost.AuditorKey);
            using var response = await client.PostAsync("/query", RunningHost.Form(png, ("prompt", "what is this creature called?")));
            var body = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, Code: response.IsSuccessStatusCode ? null : JsonNode.Parse(body)!["code"]!.GetValue<string>(),
                RetryAfter: response.Headers.RetryAfter is not null);
        }).ToList();
        var answers = await Task.WhenAll(requests);
        answers.Count(a => a.StatusCode == HttpStatusCode.OK).ShouldBeGreaterThanOrEqualTo(1);
        var busy = answers.Where(a => a.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        busy.Count.ShouldBeGreaterThanOrEqualTo(1, string.Join(", ", answers.Select(a => a.StatusCode)));
        busy.ShouldAllBe(a => a.Code == "decoder_busy" && a.RetryAfter);
    }

    private static byte[] Jpeg(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i / 3 % width * 255 / width);
        using var stream = new MemoryStream();
        new ImageWriter().WriteJpg(pixels, width, height, ColorComponents.RedGreenBlue, stream, 90);
        return stream.ToArray();
    }
}
