using System.Collections.Concurrent;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing;
using Marten;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// <see cref="QueryBatcher"/> with the committed model and experts it generated: concurrent queries run as batches and
/// each caller gets what it gets alone; a caller that cancels, or whose input the model refuses, fails alone. And the
/// server on a real ledger: concurrent head queries answer as sequential ones do, at the version they report.
/// </summary>
[Collection(HostingCollection.Name)]
public sealed class batching_queries(PostgresFixture postgres, ModelFixture model) : IAsyncLifetime
{
    private const long Version = 7;
    private static readonly string[] Prompts =
    [
        "what is the name of this creature ?", "who owns this thing ?", "where does this figure live ?",
        "what kind of being is this ?", "tell me the name of this creature .",
    ];

    private EditedModel _edited = null!;
    private IReadOnlyList<(RgbImage? Image, string Prompt)> _queries = null!;

    public Task InitializeAsync()
    {
        var runtime = model.Runtime;
        _edited = new EditedModel(runtime.Model, runtime.Editor);
        var images = Enumerable.Range(0, 4).Select(Pattern).ToList();
        using (var scope = NewDisposeScope())
        {
            for (var e = 0; e < 3; e++)
                _edited.Add($"{Guid.NewGuid()}", runtime.Generator.Generate(new VlmExample(runtime.Model.ImageInput(images[e]), Prompts[e], ((TinyVlm)runtime.Model).Tokenizer.Words[40 + e])), e);
        }
        _queries = Enumerable.Range(0, 12).Select(i => (i % 4 == 3 ? null : images[i % 4], Prompts[i % Prompts.Length])).ToList();
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _edited.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>A 32×32 picture of coloured bands, different for each <paramref name="k"/>.</summary>
    private static RgbImage Pattern(int k)
    {
        var pixels = new byte[32 * 32 * 3];
        for (var y = 0; y < 32; y++)
            for (var x = 0; x < 32; x++)
                for (var c = 0; c < 3; c++)
                    pixels[(y * 32 + x) * 3 + c] = (byte)((((x + k * 5) / (4 + k)) * 53 + ((y / (3 + c)) * 31) * (c + k + 1)) % 256);
        return new RgbImage(32, 32, pixels);
    }

    /// <summary>A batcher over the test's edited model at <see cref="Version"/>; records each batch's size.</summary>
    private QueryBatcher Batcher(ServingSettings settings, ConcurrentBag<int> sizes, Func<Task>? before = null) =>
        new(settings, async (asOf, work, ct) =>
        {
            if (before is not null) await before();
            return await model.Runtime.RunAsync(() =>
            {
                var outcomes = work(_edited, Version, []);
                sizes.Add(outcomes.Length);
                return outcomes;
            }, ct);
        });

    private static void ShouldBeSame(QueryResult actual, QueryResult expected, string what)
    {
        actual.Answer.ShouldBe(expected.Answer, what);
        actual.Version.ShouldBe(expected.Version, what);
        actual.RoutingPolicySha256.ShouldBe(expected.RoutingPolicySha256, what);
        actual.Experts.Select(e => e.EditId).ShouldBe(expected.Experts.Select(e => e.EditId), what);
        for (var j = 0; j < expected.Experts.Count; j++)
            Math.Abs((double)actual.Experts[j].Weight - expected.Experts[j].Weight).ShouldBeLessThanOrEqualTo(1e-5, what);
    }

    [Fact]
    public async Task concurrent_queries_get_the_answers_they_get_alone()
    {
        var sizes = new ConcurrentBag<int>();
        var batcher = Batcher(new ServingSettings { BatchWindowMs = 200, MaxBatch = 5 }, sizes);
        var alone = new List<QueryResult>();
        foreach (var (image, prompt) in _queries) alone.Add(await batcher.QueryAsync(image, prompt, AsOf.Now, 8));
        sizes.ShouldAllBe(s => s == 1, "one at a time, a query runs alone and does not wait");
        alone.ShouldContain(r => r.Experts.Count > 0, "experts fire on some queries");
        alone.ShouldContain(r => r.Experts.Count == 0);

        sizes.Clear();
        // Enqueued back to back (QueryAsync queues before it returns): whatever the thread pool's timing, all but the first
        // wait behind a running batch and fill the next ones.
        var together = await Task.WhenAll(_queries.Select(q => batcher.QueryAsync(q.Image, q.Prompt, AsOf.Now, 8)).ToList());
        for (var i = 0; i < _queries.Count; i++) ShouldBeSame(together[i], alone[i], $"query {i}");
        sizes.Sum().ShouldBe(_queries.Count);
        sizes.Max().ShouldBeGreaterThan(1, "concurrent queries ran as batches");
        sizes.Max().ShouldBeLessThanOrEqualTo(5, "no batch is larger than MaxBatch");
        batcher.Batched.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task an_input_the_model_refuses_fails_only_its_own_caller()
    {
        var sizes = new ConcurrentBag<int>();
        var batcher = Batcher(new ServingSettings { BatchWindowMs = 1000, MaxBatch = 6 }, sizes);
        var expected = new List<QueryResult>();
        foreach (var (image, prompt) in _queries.Take(5)) expected.Add(await batcher.QueryAsync(image, prompt, AsOf.Now, 8));
        sizes.Clear();

        // A prompt longer than the model reads (images of any size are brought to its input) in the middle of a full batch.
        var tooLong = string.Join(' ', Enumerable.Repeat("what", 60));
        var tasks = _queries.Take(5).Select(q => batcher.QueryAsync(q.Image, q.Prompt, AsOf.Now, 8)).ToList();
        tasks.Insert(2, batcher.QueryAsync(_queries[0].Image, tooLong, AsOf.Now, 8));
        await Should.ThrowAsync<ArgumentException>(() => tasks[2]);
        var others = tasks.Where((_, i) => i != 2).ToList();
        for (var i = 0; i < others.Count; i++) ShouldBeSame(await others[i], expected[i], $"query {i}");
        sizes.ShouldContain(6, "the refused input was in the same batch as the others");
    }

    [Fact]
    public async Task a_caller_that_cancels_leaves_the_others_answered()
    {
        var sizes = new ConcurrentBag<int>();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batcher = Batcher(new ServingSettings { BatchWindowMs = 1000, MaxBatch = 4 }, sizes, async () =>
        {
            entered.TrySetResult();
            await release.Task;
        });
        // Cancelled while the batch waits for the model: its companions are answered, it is not.
        using var early = new CancellationTokenSource();
        using var late = new CancellationTokenSource();
        var tasks = new[]
        {
            batcher.QueryAsync(_queries[0].Image, _queries[0].Prompt, AsOf.Now, 8, early.Token),
            batcher.QueryAsync(_queries[1].Image, _queries[1].Prompt, AsOf.Now, 8),
            batcher.QueryAsync(_queries[2].Image, _queries[2].Prompt, AsOf.Now, 8, late.Token),
            batcher.QueryAsync(_queries[3].Image, _queries[3].Prompt, AsOf.Now, 8),
        };
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await early.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => tasks[0]);
        release.SetResult();
        (await tasks[1]).Answer.ShouldNotBeNull();
        (await tasks[3]).Answer.ShouldNotBeNull();
        (await tasks[2]).Version.ShouldBe(Version, "a token that was never cancelled changes nothing");
        await late.CancelAsync();

        // Cancelled before its batch starts: it never runs, and the next caller is served.
        using var before = new CancellationTokenSource();
        var gone = batcher.QueryAsync(_queries[0].Image, _queries[0].Prompt, AsOf.Now, 8, before.Token);
        await before.CancelAsync();
        await Should.ThrowAsync<OperationCanceledException>(() => gone);
        (await batcher.QueryAsync(_queries[1].Image, _queries[1].Prompt, AsOf.Now, 8)).Version.ShouldBe(Version);
    }

    [Fact]
    public void settings_out_of_range_are_refused_by_name()
    {
        Should.Throw<InvalidOperationException>(() => new ServingSettings { MaxBatch = 0 }.Validate()).Message.ShouldContain("Serving:MaxBatch");
        Should.Throw<InvalidOperationException>(() => new ServingSettings { BatchWindowMs = -1 }.Validate()).Message.ShouldContain("Serving:BatchWindowMs");
        new ServingSettings().Validate();
    }

    [Fact]
    public async Task the_server_answers_concurrent_head_queries_as_sequential_ones_at_the_version_it_reports()
    {
        var schema = await postgres.CreateSchemaAsync(GetType());
        await using var store = LedgerStore.Create(postgres.ConnectionString, schema);
        var ledger = new EditLedger(store, new LedgerOptions { Policy = ApprovalPolicy.FourEyes, ChainKey = Convert.FromBase64String(TestChainKey.Base64) });
        await ledger.EnsureSchemaAsync();
        // Batches of four fill before their window ends: the first query may run alone, and the rest, queued behind it, fill
        // batches whatever the thread pool's timing (the last, short one waits out its window).
        using var server = new EditedModelServer(model.Runtime, ledger, serving: new ServingSettings { BatchWindowMs = 200, MaxBatch = 4 });
        var sequential = new List<QueryResult>();
        foreach (var (image, prompt) in _queries) sequential.Add(await server.QueryAsync(image, prompt, AsOf.Now));
        var head = await ledger.GetHeadAsync();
        // Enqueued back to back (QueryAsync queues before it returns), so all but the first wait behind a running batch.
        var concurrent = await Task.WhenAll(_queries.Select(q => server.QueryAsync(q.Image, q.Prompt, AsOf.Now)).ToList());
        for (var i = 0; i < _queries.Count; i++)
        {
            ShouldBeSame(concurrent[i], sequential[i], $"query {i}");
            concurrent[i].Version.ShouldBe(head);
        }
        server.Batcher.Batched.ShouldBeGreaterThanOrEqualTo(_queries.Count - 1, "the concurrent queries were batched");
        var past = await Task.WhenAll(_queries.Take(4).Select(q => Task.Run(() => server.QueryAsync(q.Image, q.Prompt, new AsOf.Sequence(0)))));
        past.ShouldAllBe(r => r.Version == 0);
    }
}
