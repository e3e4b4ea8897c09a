using System.Diagnostics;
using System.Text.RegularExpressions;
using LiveEdit.Model.Images;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>The <c>liveedit</c> command line as a separate process against a running host: what a user types and sees.</summary>
[Collection(SystemCollection.Name)]
public sealed class using_the_cli(PostgresFixture postgres) : HostPerClass(postgres), IDisposable
{
    private readonly DirectoryInfo _images = Directory.CreateTempSubdirectory("liveedit-cli-");

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema) =>
        Settings.InMemory(postgres, schema, policy: "FourEyes");

    [Fact]
    public async Task an_approved_edit_changes_the_answer_until_an_admin_retracts_it()
    {
        var c = Settings.Cases(1, seed: 21)[0];
        var image = Png(c.Edit.Image!, "edit.png");
        var oldAnswer = Answer(await Liveedit(RunningHost.AuditorKey, "query", "--image", image, "--prompt", c.Edit.Prompt));
        oldAnswer.ShouldNotBe(c.NewTarget);

        var proposed = await Liveedit(RunningHost.ProposerKey, "edit", "propose", "--image", image, "--prompt", c.Edit.Prompt,
            "--target", c.NewTarget, "--rationale", "the atlas names it so", "--tag", "synthworld", "--tag", "from-the-cli");
        var printed = Regex.Match(proposed.Out, @"^edit (\S+) proposed at version (\d+)$", RegexOptions.Multiline);
        printed.Success.ShouldBeTrue(proposed.ToString());
        var id = Guid.Parse(printed.Groups[1].Value);
        var proposedAt = printed.Groups[2].Value;

        (await Liveedit(RunningHost.ApproverKey, "edit", "approve", id.ToString())).Out.ShouldStartWith($"edit {id}: EditApproved");
        await WaitUntilShownAsync(id, "Active");
        var edit = await Host.Ledger.GetEditAsync(id);
        edit.ProposedBy.ShouldBe("alice");
        edit.ApprovedBy.ShouldBe("bob");
        edit.Rationale.ShouldBe("the atlas names it so");
        edit.Tags.ShouldBe(new[] { "synthworld", "from-the-cli" });

        var now = await Liveedit(RunningHost.AuditorKey, "query", "--image", image, "--prompt", c.Edit.Prompt, "--min-version", edit.ActivatedAtVersion!.Value.ToString());
        Answer(now).ShouldBe(c.NewTarget);
        now.Out.ShouldContain($"expert of edit {id} weight ");
        var past = await Liveedit(RunningHost.AuditorKey, "query", "--image", image, "--prompt", c.Edit.Prompt, "--as-of", proposedAt);
        Answer(past).ShouldBe(oldAnswer);
        past.Out.ShouldContain($"(version {proposedAt})");
        past.Out.ShouldNotContain(id.ToString());

        var list = await Liveedit(RunningHost.AuditorKey, "edit", "list");
        list.Out.ShouldMatch($"│ {id} │ Active +│ [^│]+│ {Regex.Escape(c.NewTarget)} +│ alice +│ {edit.ActivatedAtVersion} +│", list.ToString());
        var log = await Liveedit(RunningHost.AuditorKey, "log");
        log.Out.ShouldMatch($"│ {edit.ActivatedAtVersion} +│ [^│]+│ {id} │ Activated +│ true +│", log.ToString());
        var diff = await Liveedit(RunningHost.AuditorKey, "diff", proposedAt, edit.ActivatedAtVersion!.Value.ToString());
        diff.Out.ShouldContain($"+ {id} (active from {edit.ActivatedAtVersion})");
        diff.Out.ShouldContain($"1 activated, 0 removed between {proposedAt} and {edit.ActivatedAtVersion}");

        (await Liveedit(RunningHost.AdminKey, "edit", "retract", id.ToString(), "--reason", "the atlas was wrong")).Out.ShouldStartWith($"edit {id}: EditRetracted");
        (await Liveedit(RunningHost.AuditorKey, "edit", "show", id.ToString())).Out.ShouldStartWith($"{id} Retracted");
        var retractedAt = (await Host.Ledger.GetEditAsync(id)).RemovedAtVersion!.Value.ToString();
        var afterRetraction = await Liveedit(RunningHost.AuditorKey, "query", "--image", image, "--prompt", c.Edit.Prompt, "--min-version", retractedAt);
        Answer(afterRetraction).ShouldBe(oldAnswer);
        afterRetraction.Out.ShouldNotContain(id.ToString());
        (await Liveedit(RunningHost.AuditorKey, "diff", edit.ActivatedAtVersion.Value.ToString())).Out.ShouldContain($"- {id}");
    }

    [Fact]
    public async Task bad_input_gets_a_message_and_a_non_zero_exit_code_and_changes_nothing()
    {
        var c = Settings.Cases(1, seed: 22)[0];
        var image = Png(c.Edit.Image!, "edit.png");
        var waiting = await Host.ProposeAsync(c);
        await WaitForExpertAsync(waiting); // the in-process worker writes in the background; let it finish before reading the head
        string[] propose = ["edit", "propose", "--image", image, "--prompt", c.Edit.Prompt, "--target", c.NewTarget];
        var missing = Path.Combine(_images.FullName, "no-such.png");

        await Refused(1, $"liveedit edit propose: image file '{missing}' does not exist",
            RunningHost.ProposerKey, "edit", "propose", "--image", missing, "--prompt", c.Edit.Prompt, "--target", c.NewTarget);
        await Refused(1, $"liveedit query: image file '{missing}' does not exist", RunningHost.AuditorKey, "query", "--image", missing, "--prompt", c.Edit.Prompt);
        await Refused(2, "liveedit edit approve: 404 Not found", RunningHost.ApproverKey, "edit", "approve", Guid.NewGuid().ToString());
        await Refused(2, "liveedit edit show: 404 Not found", RunningHost.AuditorKey, "edit", "show", Guid.NewGuid().ToString());
        await Refused(1, "liveedit edit propose: no API key", null, propose);
        await Refused(2, "liveedit edit propose: 401 Unauthorized: the host knows no such API key", "not-a-key-at-all", propose);
        await Refused(2, "liveedit edit approve: 403 Forbidden: this API key's role may not do this", RunningHost.ProposerKey, "edit", "approve", waiting.ToString());
        await Refused(2, "liveedit edit retract: 403 Forbidden: this API key's role may not do this", RunningHost.ApproverKey, "edit", "retract", waiting.ToString(), "--reason", "not mine to retract");
        (await Host.Ledger.GetEditAsync(waiting)).Status.ToString().ShouldBe("Proposed");
    }

    [Fact]
    public async Task stored_control_characters_and_terminal_escapes_are_printed_visibly_not_obeyed()
    {
        // Text from before the host refused control characters, or written past it: the CLI must not let it drive the terminal.
        var c = Settings.Cases(1, seed: 23)[0];
        var sha = await Host.Ledger.Blobs.PutAsync(c.Edit.Image!.ToPng());
        var id = Guid.NewGuid();
        await Host.Ledger.ProposeAsync(new LiveEdit.Ledger.Edits.ProposeEdit(id, sha, "what\u001b[2J is this?", "zor\u001b]0;owned\u0007van", "why", "mallory\u001b[8m"));

        foreach (var shown in new[] { await Liveedit(RunningHost.AuditorKey, "edit", "show", id.ToString()), await Liveedit(RunningHost.AuditorKey, "edit", "list") })
        {
            shown.Out.ShouldNotContain("\u001b", Case.Sensitive, shown.ToString());
            shown.Out.ShouldNotContain("\u0007", Case.Sensitive, shown.ToString());
            shown.Out.ShouldContain("\\u001b", Case.Sensitive, shown.ToString());
        }
        (await Liveedit(RunningHost.AuditorKey, "edit", "show", id.ToString())).Out.ShouldContain("\"zor\\u001b]0;owned\\u0007van\"");
    }

    [Fact]
    public async Task edit_show_prints_the_chained_proposal_and_warns_when_the_summary_row_was_changed()
    {
        var c = Settings.Cases(1, seed: 24)[0];
        var sha = await Host.Ledger.Blobs.PutAsync(c.Edit.Image!.ToPng());
        var id = Guid.NewGuid();
        await Host.Ledger.ProposeAsync(new LiveEdit.Ledger.Edits.ProposeEdit(id, sha, "what is this?", "zorvan", "why", "alice"));
        await using (var connection = new Npgsql.NpgsqlConnection(Postgres.ConnectionString))
        {
            await connection.OpenAsync();
            await using var update = new Npgsql.NpgsqlCommand(
                $"update {Schema}.mt_doc_editsummary set data = jsonb_set(data, '{{target}}', '\"harmless\"') where id = @id", connection);
            update.Parameters.AddWithValue("id", id);
            (await update.ExecuteNonQueryAsync()).ShouldBe(1);
        }

        var shown = await Liveedit(RunningHost.AuditorKey, "edit", "show", id.ToString());
        shown.Out.ShouldContain("→ \"zorvan\"", Case.Sensitive, shown.ToString());
        shown.Out.ShouldContain("warning: the stored summary disagrees with the chain in target", Case.Sensitive, shown.ToString());
    }

    [Fact]
    public async Task propose_sends_an_idempotency_key_and_auth_hash_key_prints_the_sha256()
    {
        var c = Settings.Cases(1, seed: 24)[0];
        var proposed = await Liveedit(RunningHost.ProposerKey, "edit", "propose", "--image", Png(c.Edit.Image!, "idem.png"), "--prompt", c.Edit.Prompt, "--target", c.NewTarget);
        var id = Guid.Parse(Regex.Match(proposed.Out, @"^edit (\S+) ", RegexOptions.Multiline).Groups[1].Value);
        id.Version.ShouldBe(5, "the host derives the edit id from the caller and the Idempotency-Key the CLI sent");

        var hashed = await Liveedit(null, "auth", "hash-key", "a-long-operator-secret-0f3e9");
        hashed.Out.Trim().ShouldBe(LiveEdit.Inference.Auth.ApiKeyOptions.Hash("a-long-operator-secret-0f3e9"));
    }

    /// <summary>Runs a command that must fail: its exit code, its one-line message on stderr, nothing on stdout, the ledger where it was.</summary>
    private async Task Refused(int exitCode, string message, string? apiKey, params string[] args)
    {
        var head = await Host.Ledger.GetHeadAsync();
        var result = await Liveedit(apiKey, args, expectSuccess: false);
        result.ExitCode.ShouldBe(exitCode, result.ToString());
        result.Error.ShouldStartWith(message, Case.Sensitive, result.ToString());
        result.Out.ShouldBeEmpty(result.ToString());
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head, $"a refused command changes nothing in the ledger: {result}");
    }

    private Task<CliResult> Liveedit(string? apiKey, params string[] args) => Liveedit(apiKey, args, expectSuccess: true);

    /// <summary>Runs <c>dotnet liveedit.dll args --url host [--api-key key]</c> and returns what the user would see.</summary>
    private async Task<CliResult> Liveedit(string? apiKey, string[] args, bool expectSuccess)
    {
        var local = args[0] == "auth"; // commands that talk to no host take no --url
        List<string> arguments = [.. args, .. local ? [] : new[] { "--url", Host.Address.ToString() }, .. apiKey is null ? [] : new[] { "--api-key", apiKey }];
        // A key or address in the caller's environment must not stand in for what the test passes.
        var result = await CliProcess.RunAsync(arguments, new Dictionary<string, string?> { ["LIVEEDIT_API_KEY"] = null, ["LIVEEDIT_URL"] = null }, shownArgs: args);
        if (expectSuccess) result.ExitCode.ShouldBe(0, result.ToString());
        return result;
    }

    /// <summary>Polls <c>liveedit edit show</c> until its first line gives the status.</summary>
    private async Task WaitUntilShownAsync(Guid id, string status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var shown = await Liveedit(RunningHost.AuditorKey, "edit", "show", id.ToString());
            if (shown.Out.StartsWith($"{id} {status}:", StringComparison.Ordinal)) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"edit {id} is not shown as {status} after 60 s:\n{shown}");
            await Task.Delay(250);
        }
    }

    private async Task WaitForExpertAsync(Guid id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await Host.Ledger.GetEditAsync(id)).ExpertSha256 is null)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no expert for {id} after 60 s");
            await Task.Delay(100);
        }
    }

    /// <summary>The answer on the first line of <c>liveedit query</c>: <c>answer  (version N)</c>.</summary>
    private static string Answer(CliResult query)
    {
        var line = Regex.Match(query.Out, @"^(.+)  \(version \d+\)$", RegexOptions.Multiline);
        line.Success.ShouldBeTrue(query.ToString());
        return line.Groups[1].Value;
    }

    private string Png(RgbImage image, string name)
    {
        var path = Path.Combine(_images.FullName, name);
        image.SavePng(path);
        return path;
    }

    public void Dispose() => _images.Delete(recursive: true);

}
