using LiveEdit.Bench.Replay;
using LiveEdit.Bench.Streams;
using LiveEdit.Hosting.Experts;
using LiveEdit.Hosting.Serving;
using LiveEdit.Research.World;
using LiveEdit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// Deterministic replay through the ledger (what <c>liveedit bench run</c> does): the same stream on two fresh
/// ledgers, the second with its experts made ahead on two model copies in parallel, each wait ended by the worker's notice,
/// and its checkpoints evaluated on a third copy while the rest of the stream is proposed, gives the same result files (expert hashes and answers included)
/// byte for byte, and evaluating the first ledger again, from a new host that
/// knows only the ledger, gives the same bytes again.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class replaying_a_benchmark_stream(PostgresFixture postgres) : SchemaPerClass(postgres), IDisposable
{
    private static readonly int[] Checkpoints = [1, 5, 12];
    private static readonly int[] ChunkSizes = [1, 4];
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-replay-").FullName;

    [Fact]
    public async Task two_replays_one_with_experts_made_ahead_and_checkpoints_evaluated_during_it_give_the_same_bytes_and_the_old_ledger_evaluates_to_them_again()
    {
        var stream = SynthWorldStreams.Make(new SynthWorld(WorldConfig.Default), 12, seed: 5, Path.Combine(_folder, "stream"));
        var replay = new StreamReplay(stream);
        var second = await Settings.MigrateAsync(Postgres, GetType(), "_second");

        var (first, firstRun) = await ReplayAsync(replay, Schema, "first");
        // The second replay has every expert made ahead, on two model copies of its own in parallel, and evaluates each
        // checkpoint on a third copy as soon as its edits are active.
        var (again, _) = await ReplayAsync(replay, second, "second", generators: 2);

        foreach (var (name, _) in first.Files)
            File.ReadAllBytes(Path.Combine(_folder, "second", name)).ShouldBe(File.ReadAllBytes(Path.Combine(_folder, "first", name)), $"{name} differs between two replays");
        again.Metrics.Select(m => m.Edits).ShouldBe(Checkpoints.Concat(ChunkSizes));
        again.Metrics.Skip(Checkpoints.Length).Select(m => m.Protocol).ShouldBe(["chunks T=1 (ledger experts)", "chunks T=4 (ledger experts)"]);
        again.Metrics.Skip(Checkpoints.Length).ShouldAllBe(m => m.Cases == 12, "every case is measured once in its chunk");

        var rows = first.ExpertsTsv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(line => line.Split('\t')).ToList();
        rows.Select(r => r[0]).ShouldBe(stream.Cases.Select(c => c.Id));
        rows.ShouldAllBe(r => r[1].Length == 64 && r[1].All(char.IsAsciiHexDigitLower));
        rows.Select(r => r[1]).Distinct().Count().ShouldBe(stream.Cases.Count, "one expert of its own per case");
        rows.Select(r => long.Parse(r[2])).ShouldBeInOrder(SortDirection.Ascending, "activation order is stream order");

        AnswersAgreeWithTheScores(first);

        // The old ledger alone: a new host over the first schema proposes nothing and evaluates again.
        await using (var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, Schema)))
        {
            var evaluated = await replay.EvaluateAsync(host.Ledger, host.Runtime, Checkpoints, maxEval: 1000, transport: "InMemory", chunkSizes: ChunkSizes);
            evaluated.WriteTo(Path.Combine(_folder, "reevaluated"));

            // A run that saw an edit active at another version than the ledger records (a wrong notice) stops the evaluation.
            var wrong = firstRun with { ActivatedAtVersions = firstRun.ActivatedAtVersions.Select((v, i) => i == 3 ? v + 1 : v).ToArray() };
            var refused = await Should.ThrowAsync<ReplayException>(() =>
                replay.EvaluateAsync(host.Ledger, host.Runtime, Checkpoints, maxEval: 1000, transport: "InMemory", replayed: wrong));
            refused.Message.ShouldContain(stream.Cases[3].Id);
        }
        foreach (var (name, _) in first.Files)
            File.ReadAllBytes(Path.Combine(_folder, "reevaluated", name)).ShouldBe(File.ReadAllBytes(Path.Combine(_folder, "first", name)), $"{name} differs on re-evaluation");
    }

    /// <summary>answers.jsonl holds every measured case of every checkpoint; its scores average to the metrics row.</summary>
    private static void AnswersAgreeWithTheScores(ReplayResults results)
    {
        var lines = results.AnswersJsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => global::System.Text.Json.Nodes.JsonNode.Parse(l)!).ToList();
        foreach (var (k, row) in Checkpoints.Zip(results.Metrics))
        {
            var cases = lines.Where(l => l["checkpoint"]!.GetValue<int>() == k).ToList();
            cases.Count.ShouldBe(row.Cases, $"one line per case measured at checkpoint {k}");
            double Mean(string kind)
            {
                var scores = cases.Select(c => c["queries"]!.AsArray().Single(q => q!["kind"]!.GetValue<string>() == kind)!["score"])
                    .Where(s => s is not null).Select(s => s!.GetValue<double>()).ToList();
                return scores.Count == 0 ? double.NaN : 100.0 * scores.Average();
            }
            Mean("rel").ShouldBe(row.Rel, 1e-9, $"Rel at {k}");
            Mean("tgen").ShouldBe(row.TGen, 1e-9, $"T-Gen at {k}");
            Mean("mgen").ShouldBe(row.MGen, 1e-9, $"M-Gen at {k}");
            Mean("tloc").ShouldBe(row.TLoc, 1e-9, $"T-Loc at {k}");
            if (!double.IsNaN(row.MLoc)) Mean("mloc").ShouldBe(row.MLoc, 1e-9, $"M-Loc at {k}");
            cases.ShouldAllBe(c => c["queries"]!.AsArray().Take(3).All(q => q!["answer"] != null), "greedy answers are kept for Rel, T-Gen and M-Gen");
            var fired = cases.SelectMany(c => c["queries"]!.AsArray().SelectMany(q => q!["fired"]!.AsArray())).ToList();
            fired.ShouldAllBe(f => f!["case"] != null && f["expertSha256"]!.GetValue<string>().Length == 64 && f["weight"]!.GetValue<float>() >= 0,
                "every expert that fired is named, with its weight");
        }
    }

    private async Task<(ReplayResults Results, ReplayRun Run)> ReplayAsync(StreamReplay replay, string schema, string output, int generators = 0)
    {
        var pregenerated = new PregeneratedExperts();
        await using var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, schema),
            configure: generators > 0 ? b => b.Services.AddSingleton(pregenerated) : null);
        var copies = Enumerable.Range(0, generators).Select(_ => ModelRuntime.Load(new ModelSettings { Threads = host.Runtime.Threads }.ResolvedAgainst(RepositoryRoot.Path))).ToList();
        var generating = generators > 0 ? replay.PregenerateAsync(copies, host.Runtime, pregenerated, store: host.Ledger.Blobs) : Task.CompletedTask;
        using var evaluator = generators > 0 ? ModelRuntime.Load(new ModelSettings { Threads = host.Runtime.Threads }.ResolvedAgainst(RepositoryRoot.Path)) : null;
        var early = evaluator is null ? null : new EarlyCheckpoints(replay, host.Ledger, evaluator, host.Runtime, Checkpoints, maxEval: 1000);
        // The one-at-a-time road polls; the other also wakes on the worker's notice that it recorded an expert.
        var run = await replay.ProposeAsync(host.Address, RunningHost.ProposerKey, RunningHost.AuditorKey, patience: TimeSpan.FromSeconds(60), early: early,
            worker: generators > 0 ? pregenerated : null);
        await generating;
        foreach (var copy in copies) copy.Dispose();
        if (generators > 0) pregenerated.Count.ShouldBe(0, "the worker took every expert made ahead instead of generating it");
        run.EditIds.Distinct().Count().ShouldBe(replay.Stream.Cases.Count);
        var results = await replay.EvaluateAsync(host.Ledger, host.Runtime, Checkpoints, maxEval: 1000, transport: "InMemory", chunkSizes: ChunkSizes, early: early, replayed: run);
        if (early is not null) early.Taken.ShouldBe(Checkpoints.Length, "every checkpoint was measured during the replay, and those results were written");
        results.WriteTo(Path.Combine(_folder, output));
        return (results, run);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
