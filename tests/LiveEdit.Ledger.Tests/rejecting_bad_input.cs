using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>Every bad input gets a typed error and leaves every ledger table exactly as it was.</summary>
[Collection(Collections.Postgres)]
public sealed class rejecting_bad_input(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    private Guid _proposed, _active, _retracted;
    private string _image = "";
    private EditLedger Ledger => _t.Ledger;

    public async Task InitializeAsync()
    {
        _t = await TestLedger.CreateAsync(db, GetType());
        _proposed = await _t.ProposeAsync("alice");
        _active = await _t.ActiveEditAsync();
        _retracted = await _t.ActiveEditAsync();
        await Ledger.RetractAsync(new RetractEdit(_retracted, "carol", "wrong"));
        _image = await _t.PutBytesAsync("an image");
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private async Task<T> RefusedUnchanged<T>(Func<Task> act) where T : LedgerException
    {
        var before = await _t.SnapshotAsync();
        var e = await Should.ThrowAsync<T>(act);
        (await _t.SnapshotAsync()).ShouldBe(before);
        e.Message.ShouldNotBeNullOrWhiteSpace();
        return e;
    }

    private ProposeEdit Proposal(string prompt = "What is it?", string target = "a cat", string? image = null) =>
        new(Guid.NewGuid(), image ?? _image, prompt, target, "why", "alice");

    [Fact]
    public async Task an_empty_prompt() =>
        (await RefusedUnchanged<InvalidEditInputException>(() => Ledger.ProposeAsync(Proposal(prompt: "")))).Parameter.ShouldBe("prompt");

    [Fact]
    public async Task an_over_long_prompt() =>
        (await RefusedUnchanged<InvalidEditInputException>(() => Ledger.ProposeAsync(Proposal(prompt: new string('x', EditLimits.MaxPromptLength + 1)))))
            .Message.ShouldContain(EditLimits.MaxPromptLength.ToString());

    [Fact]
    public async Task an_empty_target() =>
        (await RefusedUnchanged<InvalidEditInputException>(() => Ledger.ProposeAsync(Proposal(target: " ")))).Parameter.ShouldBe("target");

    [Fact]
    public async Task an_over_long_target() =>
        (await RefusedUnchanged<InvalidEditInputException>(() => Ledger.ProposeAsync(Proposal(target: new string('x', EditLimits.MaxTargetLength + 1))))).Parameter.ShouldBe("target");

    [Fact]
    public async Task an_image_hash_not_in_the_blob_store()
    {
        var missing = Sha256Hex.Of("never stored"u8);
        (await RefusedUnchanged<BlobNotFoundException>(() => Ledger.ProposeAsync(Proposal(image: missing)))).Sha256.ShouldBe(missing);
    }

    [Fact]
    public async Task an_expert_hash_not_in_the_blob_store()
    {
        var command = await _t.ExpertCommandAsync(_proposed) with { ExpertSha256 = Sha256Hex.Of("no expert"u8) };
        await RefusedUnchanged<BlobNotFoundException>(() => Ledger.RecordExpertAsync(command));
    }

    [Fact]
    public async Task superseding_an_unknown_edit() =>
        await RefusedUnchanged<EditNotFoundException>(() => Ledger.ProposeAsync(Proposal() with { Supersedes = Guid.NewGuid() }));

    [Fact]
    public async Task reusing_an_edit_id() =>
        await RefusedUnchanged<EditAlreadyExistsException>(() => Ledger.ProposeAsync(Proposal() with { EditId = _proposed }));

    [Fact]
    public async Task an_unknown_edit_id()
    {
        var unknown = Guid.NewGuid();
        (await RefusedUnchanged<EditNotFoundException>(() => Ledger.ApproveAsync(new ApproveEdit(unknown, "bob")))).EditId.ShouldBe(unknown);
        await RefusedUnchanged<EditNotFoundException>(() => Ledger.RetractAsync(new RetractEdit(unknown, "bob", "x")));
        await RefusedUnchanged<EditNotFoundException>(() => Ledger.GetEditAsync(unknown));
        (await RefusedUnchanged<EditNotFoundException>(() => Ledger.GetHistoryAsync(unknown))).HttpStatus.ShouldBe(404);
    }

    [Fact]
    public async Task retracting_twice() =>
        await RefusedUnchanged<InvalidEditTransitionException>(() => Ledger.RetractAsync(new RetractEdit(_retracted, "carol", "again")));

    [Fact]
    public async Task approving_a_retracted_edit() =>
        await RefusedUnchanged<InvalidEditTransitionException>(() => Ledger.ApproveAsync(new ApproveEdit(_retracted, "bob")));

    [Fact]
    public async Task activating_without_an_expert()
    {
        await Ledger.ApproveAsync(new ApproveEdit(_proposed, "bob"));
        await RefusedUnchanged<InvalidEditTransitionException>(() => Ledger.ActivateAsync(new ActivateEdit(_proposed)));
    }

    [Fact]
    public async Task approving_ones_own_edit_under_four_eyes() =>
        await RefusedUnchanged<FourEyesViolationException>(() => Ledger.ApproveAsync(new ApproveEdit(_proposed, "alice")));

    [Fact]
    public async Task a_stale_expected_version()
    {
        var (_, version) = await Ledger.LoadAsync(_proposed);
        (await RefusedUnchanged<ConcurrencyConflictException>(() => Ledger.ApproveAsync(new ApproveEdit(_proposed, "bob"), expectedVersion: version - 1)))
            .HttpStatus.ShouldBe(409);
    }

    [Fact]
    public async Task a_timestamp_before_the_first_event()
    {
        var first = (await Ledger.ListVersionsAsync(limit: 1))[0].Timestamp;
        var e = await RefusedUnchanged<VersionBeforeFirstEventException>(() => Ledger.GetActiveExpertsAsync(first.AddTicks(-10)));
        e.Code.ShouldBe("version_before_first_event");
        e.Message.ShouldContain("before the first ledger event");
    }

    [Fact]
    public async Task a_version_beyond_the_head_or_below_zero()
    {
        var head = await Ledger.GetHeadAsync();
        (await RefusedUnchanged<VersionOutOfRangeException>(() => Ledger.GetActiveExpertsAsync(head + 1))).Head.ShouldBe(head);
        await RefusedUnchanged<VersionOutOfRangeException>(() => Ledger.GetActiveExpertsAsync(-1));
        await RefusedUnchanged<VersionOutOfRangeException>(() => Ledger.DiffAsync(0, head + 5));
    }

    [Fact]
    public async Task an_empty_or_malformed_blob_request()
    {
        await RefusedUnchanged<InvalidEditInputException>(() => Ledger.Blobs.PutAsync(Array.Empty<byte>()));
        await RefusedUnchanged<InvalidEditInputException>(() => Ledger.Blobs.GetAsync("not a hash"));
        await RefusedUnchanged<BlobNotFoundException>(() => Ledger.Blobs.GetAsync(Sha256Hex.Of("absent"u8)));
    }
}
