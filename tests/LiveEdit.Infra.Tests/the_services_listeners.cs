using System.Diagnostics;
using System.Text.RegularExpressions;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Infra.Tests;

/// <summary>
/// After `infra/services up`, nothing the project started listens beyond loopback: every socket of the PostgreSQL
/// and RabbitMQ processes serving the tests (AMQP, Erlang distribution) and of epmd is on 127.0.0.1 (epmd adds
/// ::1, loopback as well). Read from `ss -ltnp`, as an attacker on the network would see it.
/// </summary>
[Collection(Collections.RabbitMq)]
public sealed partial class the_services_listeners(RabbitMqFixture rabbit)
{
    private sealed record Listener(string Address, int Port, string Process, int Pid)
    {
        public bool IsLoopback => Address is "127.0.0.1" or "[::1]";
        public override string ToString() => $"{Process} (pid {Pid}) on {Address}:{Port}";
    }

    private static List<Listener> Listeners()
    {
        var start = new ProcessStartInfo("ss", ["-ltnpH"]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var listeners = new List<Listener>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var local = fields[3];
            var colon = local.LastIndexOf(':');
            foreach (Match m in UserField().Matches(line))
                listeners.Add(new Listener(local[..colon].Replace("%lo", ""), int.Parse(local[(colon + 1)..]), m.Groups[1].Value, int.Parse(m.Groups[2].Value)));
        }
        return listeners;
    }

    private static int Port(string variable, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(variable), out var port) ? port : fallback;

    [Fact]
    public void every_listener_of_postgres_rabbitmq_and_epmd_is_on_loopback()
    {
        var superuser = Environment.GetEnvironmentVariable(PostgresFixture.SuperuserVariable);
        superuser.ShouldNotBeNullOrWhiteSpace("run after `infra/services up` and `eval \"$(infra/services env)\"` (./test does)");
        var pgPort = new NpgsqlConnectionStringBuilder(superuser).Port;
        var amqpPort = rabbit.Uri.Port;
        var epmdPort = Port("LIVEEDIT_EPMD_PORT", 55674);
        var distPort = Port("LIVEEDIT_RABBIT_DIST_PORT", 55673);
        var all = Listeners();

        var postgres = all.Where(l => l.Port == pgPort).ShouldHaveSingleItem($"one listener on the PostgreSQL port {pgPort}: {string.Join(", ", all.Where(l => l.Port == pgPort))}");
        var beam = all.Where(l => l.Port == amqpPort).Select(l => l.Pid).Distinct().ShouldHaveSingleItem($"one process on the AMQP port {amqpPort}");
        var ours = all.Where(l => l.Pid == postgres.Pid || l.Pid == beam || l.Port == epmdPort || l.Port == distPort).ToList();

        ours.ShouldContain(l => l.Pid == beam && l.Port == distPort, $"the broker's Erlang distribution listens on the fixed port {distPort}");
        ours.ShouldContain(l => l.Port == epmdPort && l.Process == "epmd", $"epmd listens on {epmdPort}");
        ours.Where(l => !l.IsLoopback).ShouldBeEmpty($"listeners beyond loopback: {string.Join(", ", ours.Where(l => !l.IsLoopback))}");
    }

    [GeneratedRegex("""\("([^"]+)",pid=(\d+),""")]
    private static partial Regex UserField();
}
