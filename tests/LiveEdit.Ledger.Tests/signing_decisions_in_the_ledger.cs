using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Marten;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// Electronic signatures inside chained decisions: checked against the edit on append (nothing is written for a
/// mismatch), covered by the hash chain like every other field, and absent from events written before they existed.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class signing_decisions_in_the_ledger(PostgresFixture db) : IAsyncLifetime
{
    private static readonly SignatureModels Served = new(Sha256Hex.Of("generator"u8), Sha256Hex.Of("base"u8));
    private TestLedger _t = null!;
    private EditLedger _ledger = null!;

    public async Task InitializeAsync()
    {
        _t = await TestLedger.CreateAsync(db, GetType());
        _ledger = new EditLedger(_t.Store, new LedgerOptions { Policy = ApprovalPolicy.FourEyes, ChainKey = TestLedger.ChainKey, ServedModels = Served });
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private async Task<ElectronicSignature> SignatureAsync(Guid edit, string signer = "bob", string meaning = SignatureMeanings.Approval)
    {
        var (state, _) = await _ledger.LoadAsync(edit);
        return new ElectronicSignature(signer, signer == "bob" ? "Bob Baker" : "Dana Diaz", meaning, SignatureMethods.Password,
            SignatureRules.BindingFor(state, Served), DateTimeOffset.UtcNow);
    }

    private Task<long> SequenceOf(Guid edit, string type) =>
        _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{edit}' and type = '{type}'");

    [Fact]
    public async Task a_signed_approval_is_chained_with_its_binding_and_the_expert_joins_the_record_later()
    {
        var id = await _t.ProposeAsync();
        var signature = await SignatureAsync(id);
        signature.Binding.ExpertSha256.ShouldBeNull();

        await _ledger.ApproveAsync(new ApproveEdit(id, "bob", signature));
        var expert = await _t.ExpertCommandAsync(id);
        await _ledger.RecordExpertAsync(expert);

        var history = await _ledger.GetHistoryAsync(id);
        var approved = history.Select(h => h.Event).OfType<EditApproved>().ShouldHaveSingleItem();
        approved.Signature.ShouldBe(signature);
        approved.Signature!.Binding.EditContentSha256.ShouldBe(EditContent.Sha256(await _ledger.GetProposalAsync(id)));
        history.Select(h => h.Event).OfType<ExpertGenerated>().ShouldHaveSingleItem().ExpertSha256.ShouldBe(expert.ExpertSha256);
        (await _ledger.GetEditAsync(id)).Status.ShouldBe(EditStatus.Active);
        (await _ledger.VerifyAsync()).IsIntact.ShouldBeTrue();
    }

    [Fact]
    public async Task a_signature_bound_to_another_edits_content_is_refused_and_nothing_is_written()
    {
        var victim = await _t.ProposeAsync();
        var other = await _t.ProposeAsync();
        var borrowed = await SignatureAsync(other);
        var before = await _t.SnapshotAsync();

        var refused = await Should.ThrowAsync<InvalidEditInputException>(() => _ledger.ApproveAsync(new ApproveEdit(victim, "bob", borrowed)));

        refused.Parameter.ShouldBe("signature.binding.editContentSha256");
        (await _t.SnapshotAsync()).ShouldBe(before);
        (await _ledger.GetEditAsync(victim)).Status.ShouldBe(EditStatus.Proposed);
    }

    [Fact]
    public async Task a_retraction_of_an_active_edit_must_be_bound_to_its_expert()
    {
        var id = await _t.ActiveEditAsync();
        var (state, _) = await _ledger.LoadAsync(id);
        var withoutExpert = new ElectronicSignature("dana", "Dana Diaz", SignatureMeanings.Retraction, SignatureMethods.Password,
            new SignatureBinding(state.ContentSha256, state.GeneratorSha256, state.BaseModelSha256, null), DateTimeOffset.UtcNow);
        var before = await _t.SnapshotAsync();

        (await Should.ThrowAsync<InvalidEditInputException>(() => _ledger.RetractAsync(new RetractEdit(id, "dana", "wrong", withoutExpert))))
            .Parameter.ShouldBe("signature.binding.expertSha256");
        (await _t.SnapshotAsync()).ShouldBe(before);

        await _ledger.RetractAsync(new RetractEdit(id, "dana", "wrong", await SignatureAsync(id, "dana", SignatureMeanings.Retraction)));
        var retracted = (await _ledger.GetHistoryAsync(id)).Select(h => h.Event).OfType<EditRetracted>().ShouldHaveSingleItem();
        retracted.Signature!.Binding.ExpertSha256.ShouldBe(state.ExpertSha256);
    }

    [Fact]
    public async Task the_proposer_cannot_sign_the_approval_of_their_own_edit()
    {
        var id = await _t.ProposeAsync(proposer: "alice");
        var signedByProposer = await SignatureAsync(id, signer: "alice");
        var before = await _t.SnapshotAsync();
        await Should.ThrowAsync<FourEyesViolationException>(() => _ledger.ApproveAsync(new ApproveEdit(id, "bob", signedByProposer)));
        (await _t.SnapshotAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task an_insider_who_rewrites_a_signature_in_the_events_table_is_named_by_verify()
    {
        var id = await _t.ProposeAsync();
        await _ledger.ApproveAsync(new ApproveEdit(id, "bob", await SignatureAsync(id)));
        var seq = await SequenceOf(id, EventTypeNames.Approved);

        await _t.ExecuteAsync($"update {{schema}}.mt_events set data = jsonb_set(data, '{{signature,signerName}}', '\"Someone Else\"') where seq_id = {seq}");

        var result = await _ledger.VerifyAsync();
        var only = result.Breaks.ShouldHaveSingleItem();
        (only.Version, only.EditId, only.Kind).ShouldBe((seq, id, ChainBreakKind.RecordAltered));
    }

    [Fact]
    public async Task decisions_written_before_signatures_existed_still_load_and_verify()
    {
        var approvedId = await _t.ActiveEditAsync();
        var retractedId = await _t.ActiveEditAsync();
        await _ledger.RetractAsync(new RetractEdit(retractedId, "dana", "wrong"));
        var rejectedId = await _t.ProposeAsync();
        await _ledger.RejectAsync(new RejectEdit(rejectedId, "bob", "off topic"));
        // The rows as an earlier release wrote and chained them: no "signature" member at all.
        var first = await SequenceOf(approvedId, EventTypeNames.Approved);
        await ChainRewriter.AsSuperuserAsync(db.ConnectionString,
            $"update {_t.Schema}.mt_events set data = data - 'signature' where type in ('edit_approved', 'edit_rejected', 'edit_retracted');");
        (await _t.ScalarAsync<long>("select count(*) from {schema}.mt_events where data ? 'signature'")).ShouldBe(0);
        await ChainRewriter.RewriteFromAsync(db.ConnectionString, _t.Schema, first, TestLedger.ChainKey);

        (await _ledger.VerifyAsync()).IsIntact.ShouldBeTrue();
        var events = new[] { approvedId, retractedId, rejectedId }.Select(id => _ledger.GetHistoryAsync(id)).ToArray();
        var all = (await Task.WhenAll(events)).SelectMany(h => h).Select(h => h.Event).ToList();
        all.OfType<EditApproved>().Count().ShouldBe(2);
        all.OfType<EditApproved>().ShouldAllBe(e => e.Signature == null && e.ApprovedBy == "bob");
        all.OfType<EditRetracted>().ShouldHaveSingleItem().Signature.ShouldBeNull();
        all.OfType<EditRejected>().ShouldHaveSingleItem().Signature.ShouldBeNull();
        // And the serializer reads a bare older body the same way.
        var serializer = _t.Store.Options.Serializer();
        serializer.FromJson<EditApproved>(new MemoryStream("""{"editId":"6f1c1f5e-8f0a-4f5e-9b1a-3c2d4e5f6a7b","approvedBy":"bob","approvedAt":"2026-03-01T12:00:00+00:00"}"""u8.ToArray()))
            .ShouldBe(new EditApproved(Guid.Parse("6f1c1f5e-8f0a-4f5e-9b1a-3c2d4e5f6a7b"), "bob", new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero)));
    }
}
