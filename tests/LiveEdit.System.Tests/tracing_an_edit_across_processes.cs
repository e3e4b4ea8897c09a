using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// One trace from the proposing request through the ledger, the bus and the worker to the activation: each process writes
/// its finished spans to a file of its own (<c>Telemetry:File</c>) and the test joins them.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class tracing_an_edit_across_processes(PostgresFixture postgres, RabbitMqFixture rabbit) : SchemaPerClass(postgres), IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("liveedit-traces-");

    [Fact]
    public async Task a_proposal_approved_and_activated_by_a_worker_process_over_rabbitmq_is_one_trace()
    {
        var hostFile = Path.Combine(_folder.FullName, "host.jsonl");
        var workerFile = Path.Combine(_folder.FullName, "worker.jsonl");
        var settings = Settings.RabbitHost(Postgres, Schema, rabbit.Uri, Prefix, policy: "FourEyes");
        settings["Telemetry:File"] = hostFile;
        await using var host = await RunningHost.StartAsync(settings);
        // The worker waits before recording its expert, so the approval (a request of its own) comes first and the
        // activation is appended with the expert, by the worker, inside the proposal's trace.
        var workerSettings = Settings.RabbitWorker(Postgres, Schema, rabbit.Uri, Prefix, "worker-t", policy: "FourEyes", delayBeforeRecord: TimeSpan.FromSeconds(3));
        workerSettings["Telemetry__File"] = workerFile;
        workerSettings["Logging__Format"] = "json";
        using var worker = WorkerProcess.Start(workerSettings);
        var c = Settings.Cases(1, seed: 21)[0];

        var id = await host.ProposeAsync(c);
        using (var approver = host.Client(RunningHost.ApproverKey))
        using (var approved = await approver.PostAsync($"/edits/{id}/approve", null))
            approved.StatusCode.ShouldBe(HttpStatusCode.OK, await approved.Content.ReadAsStringAsync());
        await host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(90));

        var activation = await Spans.WaitForAsync(workerFile, s => s.Name == "ledger.append ExpertGenerated,EditActivated" && s.Tags["liveedit.edit.id"] == id.ToString());
        // A span is written when it ends: the consume spans end after the activation's, once the message is acked.
        var spans = await Spans.WaitForAncestryAsync(activation, () => Spans.Read(hostFile).Concat(Spans.Read(workerFile)).ToList());
        var proposal = spans.Single(s => s.Name == "ledger.append EditProposed" && s.Tags["liveedit.edit.id"] == id.ToString());
        var request = spans.Single(s => s.SpanId == proposal.ParentSpanId);
        request.Service.ShouldBe("liveedit-inference");
        request.Kind.ShouldBe("Server");
        request.Tags["url.path"].ShouldBe("/edits");

        activation.Service.ShouldBe("liveedit-worker");
        activation.TraceId.ShouldBe(request.TraceId, "the worker's activation is in the proposing request's trace");
        activation.Tags["liveedit.ledger.version"].ShouldBe((await host.Ledger.GetHistoryAsync(id))[^1].Version.ToString(global::System.Globalization.CultureInfo.InvariantCulture));
        // Parent by parent from the activation back to the request: worker spans, then the host's.
        var chain = Spans.Ancestry(activation, spans);
        chain.Last().ShouldBe(request, "every span on the way has its parent in one of the two files");
        var path = chain.Select(s => $"{s.Service}:{s.Source}:{s.Kind}:{s.Name}").ToList();
        var generate = chain.FindIndex(s => s.Name == "expert.generate");
        // MassTransit's receive span (the worker's first) has the host's send span as its parent: the message carried it.
        var received = chain.FindLastIndex(s => s.Service == "liveedit-worker");
        var dispatch = chain.FindIndex(s => s.Name == "expert.dispatch");
        generate.ShouldBe(1, string.Join(" ← ", path));
        chain[received].Source.ShouldBe("MassTransit", string.Join(" ← ", path));
        chain[received].Kind.ShouldBe("Consumer", string.Join(" ← ", path));
        received.ShouldBeGreaterThan(generate, string.Join(" ← ", path));
        chain[received + 1].Service.ShouldBe("liveedit-inference", string.Join(" ← ", path));
        chain[received + 1].Source.ShouldBe("MassTransit", string.Join(" ← ", path));
        chain[received + 1].Kind.ShouldBe("Producer", string.Join(" ← ", path));
        dispatch.ShouldBe(received + 2, string.Join(" ← ", path));
        chain[generate].Tags["liveedit.worker"].ShouldBe("worker-t");
        chain[dispatch].Tags["liveedit.edit.id"].ShouldBe(id.ToString());

        // The approval is a request of its own: another trace, found by the edit id.
        var approval = spans.Single(s => s.Name == "ledger.append EditApproved" && s.Tags["liveedit.edit.id"] == id.ToString());
        approval.TraceId.ShouldNotBe(request.TraceId);

        // JSON logs carry the trace: the worker's line about this edit names the proposal's trace id.
        await worker.WaitForLineAsync($"Generating expert for edit {id}", TimeSpan.FromSeconds(30));
        var line = worker.Output.First(l => l.Contains($"Generating expert for edit {id}", StringComparison.Ordinal));
        var log = JsonNode.Parse(line[line.IndexOf('{', StringComparison.Ordinal)..])!;
        log["Message"]!.ToString().ShouldContain(id.ToString());
        log["Scopes"]!.ToJsonString().ShouldContain(request.TraceId);
    }

    [Fact]
    public async Task the_in_memory_bus_carries_the_trace_from_the_request_to_the_activation_too()
    {
        var file = Path.Combine(_folder.FullName, "in-memory.jsonl");
        var settings = Settings.InMemory(Postgres, await Settings.MigrateAsync(Postgres, GetType(), "_mem"));
        settings["Telemetry:File"] = file;
        await using var host = await RunningHost.StartAsync(settings);

        var id = await host.ProposeAsync(Settings.Cases(1, seed: 22)[0]);
        await host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(90));

        var activation = await Spans.WaitForAsync(file, s => s.Name == "ledger.append ExpertGenerated,EditActivated" && s.Tags["liveedit.edit.id"] == id.ToString());
        var spans = await Spans.WaitForAncestryAsync(activation, () => Spans.Read(file));
        var chain = Spans.Ancestry(activation, spans);
        var path = string.Join(" ← ", chain.Select(s => $"{s.Source}:{s.Kind}:{s.Name}"));
        chain.Last().Kind.ShouldBe("Server", path);
        chain.Last().Tags["url.path"].ShouldBe("/edits", path);
        chain.ShouldContain(s => s.Source == "MassTransit" && s.Kind == "Consumer", path);
        chain.ShouldContain(s => s.Source == "MassTransit" && s.Kind == "Producer", path);
        chain.ShouldContain(s => s.Name == "expert.generate", path);
        chain.ShouldContain(s => s.Name == "expert.dispatch", path);
        chain.ShouldAllBe(s => s.TraceId == activation.TraceId);
    }

    public void Dispose() => _folder.Delete(recursive: true);
}

/// <summary>One line of a span file (<c>Telemetry:File</c>).</summary>
internal sealed record Span(string TraceId, string SpanId, string ParentSpanId, string Name, string Kind, string Source, string Service, IReadOnlyDictionary<string, string> Tags)
{
    public override string ToString() => $"{Service}:{Source}:{Kind}:{Name} {TraceId}/{SpanId}←{ParentSpanId}";
}

internal static class Spans
{
    public static List<Span> Read(string file)
    {
        if (!File.Exists(file)) return [];
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var spans = new List<Span>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0) continue;
            using var json = JsonDocument.Parse(line);
            var r = json.RootElement;
            var tags = r.GetProperty("tags").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
            spans.Add(new Span(r.GetProperty("traceId").GetString()!, r.GetProperty("spanId").GetString()!, r.GetProperty("parentSpanId").GetString()!,
                r.GetProperty("name").GetString()!, r.GetProperty("kind").GetString()!, r.GetProperty("source").GetString()!, r.GetProperty("service").GetString()!,
                new SortedDictionary<string, string>(tags, StringComparer.Ordinal)));
        }
        return spans;
    }

    /// <summary>Waits for a span the file must come to hold (spans are written as they end).</summary>
    public static async Task<Span> WaitForAsync(string file, Func<Span, bool> match, double seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var spans = Read(file);
            if (spans.FirstOrDefault(s => s.Tags.ContainsKey("liveedit.edit.id") && match(s)) is { } found) return found;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no such span in {file} after {seconds} s:\n{string.Join('\n', spans)}");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Reads the spans until the span's ancestry reaches a root (a span without a parent) or <paramref name="seconds"/> pass;
    /// returns the last read. A broken chain stays broken and is left to the test's assertions.
    /// </summary>
    public static async Task<List<Span>> WaitForAncestryAsync(Span span, Func<List<Span>> read, double seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var spans = read();
            if (Ancestry(span, spans)[^1].ParentSpanId.Length == 0 || DateTime.UtcNow > deadline) return spans;
            await Task.Delay(100);
        }
    }

    /// <summary>The span, its parent, its parent's parent… as far as the spans given reach.</summary>
    public static List<Span> Ancestry(Span span, IReadOnlyCollection<Span> spans)
    {
        var byId = spans.GroupBy(s => s.SpanId).ToDictionary(g => g.Key, g => g.First());
        var chain = new List<Span> { span };
        while (chain[^1].ParentSpanId is { Length: > 0 } parent && byId.TryGetValue(parent, out var next) && chain.Count < 100) chain.Add(next);
        return chain;
    }
}
