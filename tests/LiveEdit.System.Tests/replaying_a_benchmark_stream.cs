using LiveEdit.Bench.Replay;
using LiveEdit.Bench.Streams;
using LiveEdit.Research.World;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// Deterministic replay through the ledger (what <c>liveedit bench run</c> does): the same stream on two fresh
/// ledgers gives the same result files byte for byte, and evaluating the first ledger again, from a new host that
/// knows only the ledger, gives the same bytes again.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class replaying_a_benchmark_stream(PostgresFixture postgres) : SchemaPerClass(postgres), IDisposable
{
    private static readonly int[] Checkpoints = [1, 5, 12];
    private static readonly int[] ChunkSizes = [1, 4];
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-replay-").FullName;

    [Fact]
    public async Task two_replays_on_fresh_ledgers_give_the_same_bytes_and_the_old_ledger_evaluates_to_them_again()
    {
        var stream = SynthWorldStreams.Make(new SynthWorld(WorldConfig.Default), 12, seed: 5, Path.Combine(_folder, "stream"));
        var replay = new StreamReplay(stream);
        var second = await Settings.MigrateAsync(Postgres, GetType(), "_second");

        var first = await ReplayAsync(replay, Schema, "first");
        var again = await ReplayAsync(replay, second, "second");

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

        // The old ledger alone: a new host over the first schema proposes nothing and evaluates again.
        await using (var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, Schema)))
        {
            var evaluated = await replay.EvaluateAsync(host.Ledger, host.Runtime, Checkpoints, maxEval: 1000, transport: "InMemory", chunkSizes: ChunkSizes);
            evaluated.WriteTo(Path.Combine(_folder, "reevaluated"));
        }
        foreach (var (name, _) in first.Files)
            File.ReadAllBytes(Path.Combine(_folder, "reevaluated", name)).ShouldBe(File.ReadAllBytes(Path.Combine(_folder, "first", name)), $"{name} differs on re-evaluation");
    }

    private async Task<ReplayResults> ReplayAsync(StreamReplay replay, string schema, string output)
    {
        await using var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, schema));
        var run = await replay.ProposeAsync(host.Address, RunningHost.ProposerKey, RunningHost.AuditorKey, patience: TimeSpan.FromSeconds(60));
        run.EditIds.Distinct().Count().ShouldBe(replay.Stream.Cases.Count);
        var results = await replay.EvaluateAsync(host.Ledger, host.Runtime, Checkpoints, maxEval: 1000, transport: "InMemory", chunkSizes: ChunkSizes);
        results.WriteTo(Path.Combine(_folder, output));
        return results;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
