using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>The canonical content hash a signature binds to, and the pure checks of a signature against its edit.</summary>
public sealed class binding_signatures_to_edit_content
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly string Image = Sha256Hex.Of("image"u8), Generator = Sha256Hex.Of("generator"u8), Base = Sha256Hex.Of("base"u8);
    private static readonly Guid Id = Guid.Parse("6f1c1f5e-8f0a-4f5e-9b1a-3c2d4e5f6a7b");
    private static readonly SignatureModels Served = new(Generator, Base);

    private static EditProposed Proposal(string prompt = "what is this?", string target = "zorvan", string rationale = "seen wrong", string by = "alice",
        string[]? tags = null, Guid? supersedes = null, string? image = null) =>
        new(Id, image ?? Image, prompt, target, rationale, by, tags ?? ["a", "b"], supersedes, Now);

    private static ElectronicSignature Signature(Edit edit, string signer = "bob", string meaning = SignatureMeanings.Approval) =>
        new(signer, "Bob Baker", meaning, SignatureMethods.Password, SignatureRules.BindingFor(edit, Served), Now);

    [Fact]
    public void every_field_of_the_proposal_changes_the_content_hash()
    {
        var original = EditContent.Sha256(Proposal());
        string[] changed =
        [
            EditContent.Sha256(Proposal(prompt: "what is that?")),
            EditContent.Sha256(Proposal(target: "zorvam")),
            EditContent.Sha256(Proposal(rationale: "seen wrong!")),
            EditContent.Sha256(Proposal(by: "mallory")),
            EditContent.Sha256(Proposal(tags: ["a"])),
            EditContent.Sha256(Proposal(supersedes: Guid.NewGuid())),
            EditContent.Sha256(Proposal(image: Sha256Hex.Of("other image"u8))),
            EditContent.Sha256(Proposal() with { EditId = Guid.NewGuid() }),
        ];
        changed.ShouldAllBe(h => h != original);
        changed.Distinct().Count().ShouldBe(changed.Length);
        EditContent.Sha256(Proposal() with { ProposedAt = Now.AddDays(1) }).ShouldBe(original, "the time of proposal is not content");
    }

    [Fact]
    public void the_encoding_cannot_be_confused_by_separators_inside_the_text()
    {
        EditContent.Sha256(Proposal(tags: ["a,b"])).ShouldNotBe(EditContent.Sha256(Proposal(tags: ["a", "b"])));
        EditContent.Sha256(Proposal(prompt: "x\ntarget:1:y", target: "z")).ShouldNotBe(EditContent.Sha256(Proposal(prompt: "x", target: "y\nz")));
    }

    [Fact]
    public void the_encoding_is_the_documented_one()
    {
        var text = System.Text.Encoding.UTF8.GetString(EditContent.Canonical(Proposal(prompt: "é?", tags: ["t"])));
        text.ShouldBe($"liveedit-edit-content/v1\neditId:36:{Id}\nimageSha256:64:{Image}\nprompt:3:é?\ntarget:6:zorvan\nrationale:10:seen wrong\nproposedBy:5:alice\ntags:1:\ntag:1:t\nsupersedes:0:\n");
    }

    [Fact]
    public void a_signature_bound_to_the_edit_is_accepted_and_chained_normalised()
    {
        var edit = Edit.Create(Proposal());
        var approved = EditDecisions.Handle(edit, new ApproveEdit(Id, "bob", Signature(edit) with { SignerUserName = " bob " }), ApprovalPolicy.FourEyes, Now, Served);
        approved.Signature.ShouldNotBeNull().SignerUserName.ShouldBe("bob");
        approved.Signature.Binding.ShouldBe(new SignatureBinding(EditContent.Sha256(Proposal()), Generator, Base, null));
    }

    [Fact]
    public void a_signature_bound_to_another_edits_content_is_refused()
    {
        var edit = Edit.Create(Proposal());
        var other = Edit.Create(Proposal(target: "a forgery"));
        Should.Throw<InvalidEditInputException>(() =>
                EditDecisions.Handle(edit, new ApproveEdit(Id, "bob", Signature(other)), ApprovalPolicy.FourEyes, Now, Served))
            .Parameter.ShouldBe("signature.binding.editContentSha256");
    }

    [Fact]
    public void a_signature_naming_other_models_than_the_served_ones_is_refused()
    {
        var edit = Edit.Create(Proposal());
        var signature = Signature(edit);
        Should.Throw<InvalidEditInputException>(() => EditDecisions.Handle(edit,
                new ApproveEdit(Id, "bob", signature with { Binding = signature.Binding with { GeneratorSha256 = Sha256Hex.Of("old generator"u8) } }), ApprovalPolicy.FourEyes, Now, Served))
            .Parameter.ShouldBe("signature.binding.generatorSha256");
        Should.Throw<InvalidEditInputException>(() => EditDecisions.Handle(edit,
                new ApproveEdit(Id, "bob", signature with { Binding = signature.Binding with { BaseModelSha256 = Sha256Hex.Of("other base"u8) } }), ApprovalPolicy.FourEyes, Now, Served))
            .Parameter.ShouldBe("signature.binding.baseModelSha256");
    }

    [Fact]
    public void once_the_edit_has_an_expert_a_signature_must_name_it_and_the_models_that_made_it()
    {
        var edit = Edit.Create(Proposal());
        var expert = Sha256Hex.Of("expert"u8);
        edit = Edit.Next(edit, new ExpertGenerated(Id, expert, Sha256Hex.Of("worker's generator"u8), Base, 4, 64, "w", 1, 1, 2, [1f, 2f], Now));
        var unbound = new ElectronicSignature("dana", "Dana", SignatureMeanings.Retraction, SignatureMethods.Password,
            new SignatureBinding(edit.ContentSha256, Generator, Base, null), Now);
        Should.Throw<InvalidEditInputException>(() => EditDecisions.Handle(edit, new RetractEdit(Id, "dana", "wrong", unbound), Now, Served))
            .Parameter.ShouldBe("signature.binding.generatorSha256");
        var bound = unbound with { Binding = SignatureRules.BindingFor(edit, Served) };
        bound.Binding.ShouldBe(new SignatureBinding(edit.ContentSha256, Sha256Hex.Of("worker's generator"u8), Base, expert));
        EditDecisions.Handle(edit, new RetractEdit(Id, "dana", "wrong", bound), Now, Served).Signature.ShouldBe(bound);
    }

    [Fact]
    public void the_proposer_cannot_sign_the_approval_of_their_own_edit_whoever_calls()
    {
        var edit = Edit.Create(Proposal(by: "alice"));
        Should.Throw<FourEyesViolationException>(() =>
            EditDecisions.Handle(edit, new ApproveEdit(Id, "bob", Signature(edit, signer: "Alice")), ApprovalPolicy.FourEyes, Now, Served));
    }

    [Fact]
    public void a_meaning_the_decision_does_not_take_is_refused()
    {
        var edit = Edit.Create(Proposal());
        Should.Throw<InvalidEditInputException>(() =>
                EditDecisions.Handle(edit, new ApproveEdit(Id, "bob", Signature(edit, meaning: SignatureMeanings.Rejection)), ApprovalPolicy.FourEyes, Now, Served))
            .Parameter.ShouldBe("signature.meaning");
        EditDecisions.Handle(edit, new RejectEdit(Id, "bob", "no", Signature(edit, meaning: SignatureMeanings.Review)), Now, Served).Signature!.Meaning.ShouldBe("review");
    }
}
