using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>The pure decision functions, without a database.</summary>
public sealed class deciding_edit_commands
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly string Hash = Sha256Hex.Of("x"u8);
    private static readonly Guid Id = Guid.NewGuid();

    private static Edit Proposed(string by = "alice") =>
        Edit.Create(EditDecisions.Handle(new ProposeEdit(Id, Hash, "prompt", "target", "why", by), Now));

    private static RecordExpert Expert() => new(Id, Hash, Hash, Hash, 4, 64, "w", 1, 1, 2, [1f, 2f]);

    private static Edit Active()
    {
        var s = Proposed();
        s = Edit.Next(s, EditDecisions.Handle(s, new ApproveEdit(Id, "bob"), ApprovalPolicy.FourEyes, Now));
        s = Edit.Next(s, EditDecisions.Handle(s, Expert(), Now));
        return Edit.Next(s, EditDecisions.ActivationDue(s, Now)!);
    }

    [Fact]
    public void the_decision_state_carries_the_chained_prompt_and_target()
    {
        var s = Proposed();
        (s.Prompt, s.Target, s.ImageSha256).ShouldBe(("prompt", "target", Hash));
    }

    [Fact]
    public void a_failed_edit_takes_no_expert_and_no_second_failure_but_can_be_retracted()
    {
        var s = Proposed();
        s = Edit.Next(s, EditDecisions.Handle(s, new RecordGenerationFailure(Id, "target_too_long", "'target' is 42 tokens", "w"), Now));
        s.Status.ShouldBe(EditStatus.Failed);
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, Expert(), Now)).Message.ShouldContain("failed");
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, new RecordGenerationFailure(Id, "x", "y", "w"), Now));
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, new ApproveEdit(Id, "bob"), ApprovalPolicy.FourEyes, Now));
        Edit.Next(s, EditDecisions.Handle(s, new RetractEdit(Id, "dana", "cannot be learned"), Now)).Status.ShouldBe(EditStatus.Retracted);
    }

    [Fact]
    public void an_edit_with_an_expert_cannot_be_recorded_as_failed()
    {
        var s = Edit.Next(Proposed(), EditDecisions.Handle(Proposed(), Expert(), Now));
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, new RecordGenerationFailure(Id, "x", "y", "w"), Now))
            .Message.ShouldContain("already has expert");
    }

    [Fact]
    public void approving_a_retracted_edit_is_refused()
    {
        var s = Edit.Next(Proposed(), new EditRetracted(Id, "carol", "bad", Now));
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, new ApproveEdit(Id, "bob"), ApprovalPolicy.FourEyes, Now))
            .Code.ShouldBe("invalid_transition");
    }

    [Fact]
    public void activating_without_an_expert_is_refused()
    {
        var s = Proposed();
        s = Edit.Next(s, EditDecisions.Handle(s, new ApproveEdit(Id, "bob"), ApprovalPolicy.FourEyes, Now));
        EditDecisions.ActivationDue(s, Now).ShouldBeNull();
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, new ActivateEdit(Id), Now))
            .Message.ShouldContain("no expert");
    }

    [Fact]
    public void activating_without_approval_is_refused()
    {
        var s = Edit.Next(Proposed(), EditDecisions.Handle(Proposed(), Expert(), Now));
        EditDecisions.ActivationDue(s, Now).ShouldBeNull();
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, new ActivateEdit(Id), Now))
            .Message.ShouldContain("not approved");
    }

    [Fact]
    public void retracting_twice_is_refused()
    {
        var s = Edit.Next(Active(), EditDecisions.Handle(Active(), new RetractEdit(Id, "carol", "bad"), Now));
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, new RetractEdit(Id, "carol", "again"), Now))
            .Message.ShouldContain("already retracted");
    }

    [Fact]
    public void approving_ones_own_edit_under_four_eyes_is_refused_whatever_the_case_or_spacing()
    {
        var e = Should.Throw<FourEyesViolationException>(() =>
            EditDecisions.Handle(Proposed("Alice"), new ApproveEdit(Id, " alice "), ApprovalPolicy.FourEyes, Now));
        e.Kind.ShouldBe(LedgerErrorKind.RuleViolation);
        e.HttpStatus.ShouldBe(422);
    }

    [Fact]
    public void approving_ones_own_edit_is_allowed_under_auto_approve()
    {
        EditDecisions.Handle(Proposed("alice"), new ApproveEdit(Id, "alice"), ApprovalPolicy.AutoApprove, Now).ApprovedBy.ShouldBe("alice");
    }

    [Fact]
    public void rejecting_an_active_edit_is_refused_in_favour_of_retraction()
    {
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(Active(), new RejectEdit(Id, "bob", "no"), Now))
            .Message.ShouldContain("retract it instead");
    }

    [Fact]
    public void a_second_expert_for_one_edit_is_refused()
    {
        var s = Edit.Next(Proposed(), EditDecisions.Handle(Proposed(), Expert(), Now));
        Should.Throw<InvalidEditTransitionException>(() => EditDecisions.Handle(s, Expert(), Now)).HttpStatus.ShouldBe(409);
    }

    [Theory]
    [InlineData("", "target", "prompt")]
    [InlineData("   ", "target", "prompt")]
    [InlineData("prompt", "", "target")]
    [InlineData("LONG_PROMPT", "target", "prompt")]
    [InlineData("prompt", "LONG_TARGET", "target")]
    public void empty_or_over_long_text_is_refused(string prompt, string target, string parameter)
    {
        prompt = prompt == "LONG_PROMPT" ? new string('p', EditLimits.MaxPromptLength + 1) : prompt;
        target = target == "LONG_TARGET" ? new string('t', EditLimits.MaxTargetLength + 1) : target;
        var e = Should.Throw<InvalidEditInputException>(() => EditDecisions.Handle(new ProposeEdit(Id, Hash, prompt, target, "", "alice"), Now));
        e.Parameter.ShouldBe(parameter);
        e.HttpStatus.ShouldBe(400);
    }

    [Fact]
    public void text_at_the_limits_is_accepted()
    {
        EditDecisions.Handle(new ProposeEdit(Id, Hash, new string('p', EditLimits.MaxPromptLength), new string('t', EditLimits.MaxTargetLength), "", "alice"), Now)
            .Prompt.Length.ShouldBe(EditLimits.MaxPromptLength);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("ZZ00000000000000000000000000000000000000000000000000000000000000")]
    public void a_malformed_image_hash_is_refused(string hash)
    {
        Should.Throw<InvalidEditInputException>(() => EditDecisions.Handle(new ProposeEdit(Id, hash, "p", "t", "", "alice"), Now))
            .Parameter.ShouldBe("imageSha256");
    }

    [Fact]
    public void a_visual_key_of_the_wrong_size_or_with_nan_is_refused()
    {
        var s = Proposed();
        Should.Throw<InvalidEditInputException>(() => EditDecisions.Handle(s, Expert() with { VisualKey = [1f] }, Now)).Parameter.ShouldBe("visualKey");
        Should.Throw<InvalidEditInputException>(() => EditDecisions.Handle(s, Expert() with { VisualKey = [1f, float.NaN] }, Now)).Parameter.ShouldBe("visualKey");
    }
}
