using System.Diagnostics;
using System.Text;
using LiveEdit.Hosting.Audit;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using StbImageSharp;
using Xunit;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// The audit export says the same things as JSON, HTML and PDF; a ledger that fails its checks is never exported as a
/// clean report; nothing in an edit is ever rendered as markup.
/// </summary>
[Collection(AuditCollection.Name)]
public sealed class exporting_an_audit_report(PostgresFixture db) : IAsyncLifetime
{
    private const string Markup = "<script>alert('x')</script><b>bold</b><img src=x onerror=alert(1)>";
    private static readonly byte[] ChainKey = LedgerChainKey.NewRandom();
    private Marten.DocumentStore _store = null!;
    private EditLedger _ledger = null!;
    private string _schema = "";
    private Guid _active, _retracted, _proposed, _marked;
    private long _retractedAt;

    public async Task InitializeAsync()
    {
        _schema = await db.CreateSchemaAsync(GetType());
        _store = LedgerStore.Create(db.ConnectionString, _schema);
        _ledger = new EditLedger(_store, new LedgerOptions { ChainKey = ChainKey });
        await _ledger.EnsureSchemaAsync();
        _active = await ActiveEditAsync("what is this creature called?", "babro");
        _retracted = await ActiveEditAsync("what colour is the zorvan?", "teal");
        _retractedAt = (await _ledger.RetractAsync(new RetractEdit(_retracted, "dana", "answers wrongly about teal things"))).LedgerVersion;
        _proposed = await ProposeAsync("where does the quill live?", "the marsh");
        _marked = await ProposeAsync(Markup, Markup, Markup);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    private async Task<Guid> ProposeAsync(string prompt, string target, string rationale = "seen wrong in the field")
    {
        var id = Guid.NewGuid();
        var image = await _ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes($"image {id}"));
        await _ledger.ProposeAsync(new ProposeEdit(id, image, prompt, target, rationale, "alice", ["field"]));
        return id;
    }

    private async Task<Guid> ActiveEditAsync(string prompt, string target)
    {
        var id = await ProposeAsync(prompt, target);
        await _ledger.ApproveAsync(new ApproveEdit(id, "bob"));
        var expert = await _ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes($"expert {id}"));
        await _ledger.RecordExpertAsync(new RecordExpert(id, expert, Sha256Hex.Of("generator"u8), Sha256Hex.Of("base"u8), 4, 64, "worker-1", 12, 2, 3, [1, 2, 3, 4, 5, 6]));
        return id;
    }

    private Task<AuditExport> ExportAsync(string? from = null, string? to = null) =>
        new AuditExporter(_ledger).ExportAsync(new AuditExportRequest(from, to, "carol"));

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", _schema), connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string> RunAsync(string tool, params string[] arguments)
    {
        ProcessStartInfo start = new(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{tool} is not installed ({e.Message}): install Debian's poppler-utils (infra/services up --for-tests does)", e);
        }
        using (process)
        {
            var output = await process.StandardOutput.ReadToEndAsync();
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            process.ExitCode.ShouldBe(0, $"{tool} {string.Join(' ', arguments)}: {error}");
            return output;
        }
    }

    private async Task<string> PdfTextAsync(AuditExport export)
    {
        var path = Path.Combine(Path.GetTempPath(), $"audit-{Guid.NewGuid():N}.pdf");
        await File.WriteAllBytesAsync(path, AuditReportPdf.Write(export));
        try
        {
            return await RunAsync("pdftotext", "-layout", path, "-");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task a_clean_ledger_exports_every_edit_with_its_content_history_expert_and_active_versions()
    {
        var export = await ExportAsync();

        export.Status.ShouldBe(AuditStatus.Passed);
        export.Checks.Failures.ShouldBeEmpty();
        export.Checks.HashChain.Intact.ShouldBeTrue();
        export.Checks.Blobs.BlobsHashed.ShouldBe(6); // four images, two experts
        export.Checks.ExpertRegeneration.ShouldStartWith("not run");
        export.Chain.HeadSequence.ShouldBe(await _ledger.GetHeadAsync());
        export.Edits.Select(e => e.EditId).ShouldBe([_active, _retracted, _proposed, _marked]);

        var active = export.Edits[0];
        active.Status.ShouldBe("Active");
        active.Prompt.ShouldBe("what is this creature called?");
        active.Target.ShouldBe("babro");
        active.Rationale.ShouldBe("seen wrong in the field");
        active.ExpertSha256.ShouldBe(Sha256Hex.Of(Encoding.UTF8.GetBytes($"expert {_active}")));
        active.History.Select(h => h.Kind).ShouldBe(["proposed", "approved", "expert generated", "activated"]);
        active.History[1].Actor.ShouldBe("bob");
        active.ActiveIntervals.ShouldHaveSingleItem().UntilVersion.ShouldBeNull();

        var retracted = export.Edits[1];
        retracted.Status.ShouldBe("Retracted");
        retracted.History[^1].Reason.ShouldBe("answers wrongly about teal things");
        retracted.ActiveIntervals.ShouldHaveSingleItem().UntilVersion.ShouldBe(_retractedAt);
        export.Edits[2].ActiveIntervals.ShouldBeEmpty();
    }

    [Fact]
    public async Task a_range_holds_the_edits_with_an_event_in_it_and_a_bad_bound_is_named()
    {
        var export = await ExportAsync(from: _retractedAt.ToString(), to: _retractedAt.ToString());
        export.Edits.ShouldHaveSingleItem().EditId.ShouldBe(_retracted);
        export.Edits[0].History.Count.ShouldBe(5); // the whole history, not only the event in range

        (await ExportAsync(from: DateTimeOffset.UtcNow.AddDays(1).ToString("O"))).Edits.ShouldBeEmpty();
        (await Should.ThrowAsync<AuditRangeException>(() => ExportAsync(from: "999999"))).Parameter.ShouldBe("from");
        (await Should.ThrowAsync<AuditRangeException>(() => ExportAsync(from: "3", to: "2"))).Parameter.ShouldBe("to");
        (await Should.ThrowAsync<AuditRangeException>(() => ExportAsync(to: "last tuesday"))).Parameter.ShouldBe("to");
    }

    [Fact]
    public async Task the_json_reads_back_as_the_same_export()
    {
        var export = await ExportAsync();
        var json = AuditReportJson.Write(export);

        var read = AuditReportJson.Read(json);

        AuditReportJson.Write(read).ShouldBe(json);
        read.Edits.Count.ShouldBe(export.Edits.Count);
        read.Edits[0].History[1].ShouldBe(export.Edits[0].History[1] with { Details = read.Edits[0].History[1].Details });
        read.Checks.HashChain.Head.ShouldBe(export.Checks.HashChain.Head);
        read.GeneratedAt.ShouldBe(export.GeneratedAt);
    }

    [Fact]
    public async Task a_tampered_ledger_exports_with_its_failure_first_in_json_html_and_pdf()
    {
        var approved = await ScalarAsync($"select seq_id from {{schema}}.mt_events where stream_id = '{_active}' and type = 'edit_approved'");
        await ExecuteAsync($$"""
            set session_replication_role = replica;
            update {schema}.mt_events set data = jsonb_set(data, '{approvedBy}', '"mallory"') where seq_id = {{approved}};
            set session_replication_role = origin;
            """);

        var export = await ExportAsync();

        export.Status.ShouldBe(AuditStatus.Failed);
        var failure = export.Checks.Failures.ShouldHaveSingleItem();
        failure.ShouldContain($"hash chain broken at version {approved}");
        failure.ShouldContain(_active.ToString());

        var json = AuditReportJson.Write(export);
        json.IndexOf("\"status\": \"Failed\"", StringComparison.Ordinal).ShouldBeLessThan(json.IndexOf("\"edits\"", StringComparison.Ordinal));
        json.ShouldContain($"hash chain broken at version {approved}");

        var html = AuditReportHtml.Write(export);
        var alert = html.IndexOf("VERIFICATION FAILED", StringComparison.Ordinal);
        alert.ShouldBeGreaterThan(0);
        alert.ShouldBeLessThan(html.IndexOf("Audit export of ledger", html.IndexOf("<body>", StringComparison.Ordinal), StringComparison.Ordinal));
        html.ShouldContain($"hash chain broken at version {approved}");
        html.ShouldContain("<title>FAILED:");

        var text = System.Text.RegularExpressions.Regex.Replace(await PdfTextAsync(export), @"\s+", " ");
        text.TrimStart().ShouldStartWith("VERIFICATION FAILED");
        text.ShouldContain($"hash chain broken at version {approved}");
    }

    [Fact]
    public async Task the_last_signed_checkpoint_is_shown_and_one_the_ledger_no_longer_extends_fails_the_export()
    {
        var (privatePem, publicPem) = CheckpointKeys.Generate();
        using var signer = CheckpointSigner.FromPem(privatePem, "the test key");
        using var key = CheckpointPublicKey.FromPem(publicPem, "the test key");
        var folder = Directory.CreateTempSubdirectory("audit-checkpoints-").FullName;
        try
        {
            var checkpoints = new LedgerCheckpoints(_ledger);
            var signed = await checkpoints.CreateAsync(signer);
            await LedgerCheckpoints.WriteAsync(signed, folder);

            var clean = await new AuditExporter(_ledger).ExportAsync(new AuditExportRequest(null, null, "carol", folder, key));
            clean.Status.ShouldBe(AuditStatus.Passed);
            var shown = clean.Chain.LastCheckpoint.ShouldNotBeNull();
            shown.Sequence.ShouldBe(signed.Sequence);
            shown.ChainHash.ShouldBe(signed.ChainHash);
            shown.Verified.ShouldNotBeNull().ShouldContain("signature valid");

            // An owner who holds the chain key rewrites the chain entry the checkpoint signed: only the checkpoint shows it.
            await ExecuteAsync($$"""
                set session_replication_role = replica;
                update {schema}.ledger_chain set record_hash = repeat('0', 64) where seq_id = {{signed.Sequence}};
                set session_replication_role = origin;
                """);
            var rewritten = await new AuditExporter(_ledger).ExportAsync(new AuditExportRequest(null, null, "carol", folder, key));
            rewritten.Status.ShouldBe(AuditStatus.Failed);
            rewritten.Checks.Failures.ShouldContain(f => f.StartsWith("checkpoint ") && f.Contains("ChainHashChanged"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task a_signed_decision_is_exported_with_every_field_of_its_signature_in_json_html_and_pdf()
    {
        var served = new SignatureModels(Sha256Hex.Of("generator"u8), Sha256Hex.Of("base"u8));
        var ledger = new EditLedger(_store, new LedgerOptions { ChainKey = ChainKey, ServedModels = served });
        var id = await ProposeAsync("which bird is this?", "a quill");
        var content = EditContent.Sha256(await ledger.GetProposalAsync(id));
        var signature = new ElectronicSignature("bob", "Bob Baker", SignatureMeanings.Approval, SignatureMethods.Password,
            new SignatureBinding(content, served.GeneratorSha256, served.BaseModelSha256, null), DateTimeOffset.UtcNow);
        await ledger.ApproveAsync(new ApproveEdit(id, "bob", signature));

        var export = await new AuditExporter(ledger).ExportAsync(new AuditExportRequest(null, null, "carol"));

        var history = export.Edits.Single(e => e.EditId == id).History;
        history.Single(h => h.Kind == "proposed").Signature.ShouldBeNull();
        var fields = history.Single(h => h.Kind == "approved").Signature.ShouldNotBeNull().ToDictionary(f => f.Name, f => f.Value);
        fields["signerUserName"].ShouldBe("bob");
        fields["signerName"].ShouldBe("Bob Baker");
        fields["meaning"].ShouldBe("approval");
        fields["method"].ShouldBe("password");
        fields["binding.editContentSha256"].ShouldBe(content);
        fields["binding.generatorSha256"].ShouldBe(served.GeneratorSha256);
        fields.ShouldContainKey("signedAt");

        AuditReportJson.Read(AuditReportJson.Write(export)).Edits.Single(e => e.EditId == id).History[1].Signature.ShouldNotBeNull().Count.ShouldBe(fields.Count);
        AuditReportHtml.Write(export).ShouldContain("signerName: Bob Baker; meaning: approval; method: password");
        var text = System.Text.RegularExpressions.Regex.Replace(await PdfTextAsync(export), @"\s+", " ");
        text.ShouldContain("signerName: Bob Baker");
        text.ShouldContain($"binding.editContentSha256: {content}");
    }

    [Fact]
    public async Task a_corrupt_or_missing_blob_fails_the_export_naming_the_blob()
    {
        var expert = Sha256Hex.Of(Encoding.UTF8.GetBytes($"expert {_active}"));
        var image = (await _ledger.GetProposalAsync(_proposed)).ImageSha256;
        await ExecuteAsync($$"""
            set session_replication_role = replica;
            update {schema}.ledger_blobs set content = '\x00' where sha256 = '{{expert}}';
            delete from {schema}.ledger_blobs where sha256 = '{{image}}';
            set session_replication_role = origin;
            """);

        var export = await ExportAsync();

        export.Status.ShouldBe(AuditStatus.Failed);
        export.Checks.Blobs.Problems.ShouldContain(p => p.Sha256 == expert && p.Problem == "corrupt" && p.ActualSha256 == Sha256Hex.Of(new byte[] { 0 }));
        export.Checks.Blobs.Problems.ShouldContain(p => p.Sha256 == image && p.Problem == "missing");
        export.Checks.Failures.Count.ShouldBe(2);
    }

    [Fact]
    public async Task markup_in_prompt_target_and_rationale_is_rendered_as_text()
    {
        var html = AuditReportHtml.Write(await ExportAsync());

        html.ShouldNotContain("<script", Case.Insensitive);
        html.ShouldNotContain("<img", Case.Insensitive);
        html.ShouldNotContain("<b>");
        html.ShouldContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;&lt;img src=x onerror=alert(1)&gt;");
        html.ShouldContain("default-src 'none'");
        html.ShouldNotContain("http://");
        html.ShouldNotContain("https://");
    }

    [Fact]
    public async Task the_pdf_renders_to_a_page_with_ink_and_its_text_holds_the_edits()
    {
        var export = await ExportAsync();
        var folder = Directory.CreateTempSubdirectory("audit-pdf-").FullName;
        try
        {
            var pdf = Path.Combine(folder, "report.pdf");
            await File.WriteAllBytesAsync(pdf, AuditReportPdf.Write(export));
            await RunAsync("pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", pdf, Path.Combine(folder, "page"));
            var png = Directory.GetFiles(folder, "page*.png").ShouldHaveSingleItem();
            var image = ImageResult.FromMemory(await File.ReadAllBytesAsync(png), ColorComponents.Grey);
            var dark = image.Data.Count(b => b < 128);
            dark.ShouldBeGreaterThan(image.Data.Length / 200, "the first page is blank");

            // Long lines wrap at spaces: compare with runs of white space as one space.
            var text = System.Text.RegularExpressions.Regex.Replace(await RunAsync("pdftotext", "-layout", pdf, "-"), @"\s+", " ");
            text.ShouldContain("what is this creature called?");
            text.ShouldContain(_retracted.ToString());
            text.ShouldContain("answers wrongly about teal things");
            text.ShouldContain("<script>alert('x')</script>"); // text in a PDF is text
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", _schema), connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
