using LiveEdit.Model.Editor;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// A frozen editor keeps the projections of its query seeds and sentinel and skips index tensors and masks for one
/// row: the keys must be the very same floats as the plain path, and training must never see stale projections.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class frozen_key_projections
{
    private static float[] F(Tensor t) => t.contiguous().data<float>().ToArray();

    private static (float[] Visual, float[] Sentinel, float[] Text) Keys(EditorModules editor, EditorFixture f, IReadOnlyList<int> rows, bool training = false)
    {
        using var scope = NewDisposeScope();
        var inputs = f.Model.Prepare(f.ImageQueries());
        Tensor hidden;
        using (no_grad()) hidden = f.Model.HiddenAtEditLayer(inputs);
        // Training computes the visual and sentinel keys apart (VisualKey, SentinelKey); inference shares their pieces.
        using var grad = training ? enable_grad() : no_grad();
        var k = editor.InputSide(hidden, inputs, rows);
        return (F(k.Visual.detach()), F(k.Sentinel.detach()), F(k.Text.detach()));
    }

    private static void Unfreeze(EditorModules editor)
    {
        foreach (var p in editor.parameters()) p.requires_grad = true;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void input_keys_are_bit_identical_with_and_without_the_kept_projections(int visualKeyBlocks)
    {
        var f = new EditorFixture(seed: 13, visualKeyBlocks: visualKeyBlocks);
        using (no_grad())
        {
            // New vision-token blocks start as the identity: move every weight so that the blocks really act.
            var noise = new Generator(17);
            foreach (var p in f.Editor.parameters()) p.add_(randn(p.shape, generator: noise) * 0.05);
        }
        f.Editor.Freeze();
        int[][] rowSets = [[0], [3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [2, 7]];
        var frozen = rowSets.Select(r => Keys(f.Editor, f, r)).ToList();
        Unfreeze(f.Editor);   // the kept projections are not used while the weights may train
        var plain = rowSets.Select(r => Keys(f.Editor, f, r)).ToList();
        var training = rowSets.Select(r => Keys(f.Editor, f, r, training: true)).ToList();
        for (var i = 0; i < rowSets.Length; i++)
        {
            training[i].Visual.ShouldBe(plain[i].Visual, $"visual keys as training computes them, rows {string.Join(',', rowSets[i])}");
            training[i].Sentinel.ShouldBe(plain[i].Sentinel, $"sentinel keys as training computes them, rows {string.Join(',', rowSets[i])}");
            frozen[i].Visual.ShouldBe(plain[i].Visual, $"visual keys, rows {string.Join(',', rowSets[i])}");
            frozen[i].Sentinel.ShouldBe(plain[i].Sentinel, $"sentinel keys, rows {string.Join(',', rowSets[i])}");
            frozen[i].Text.ShouldBe(plain[i].Text, $"text keys, rows {string.Join(',', rowSets[i])}");
        }
    }

    [Fact]
    public void experts_are_the_same_bytes_from_a_frozen_and_an_unfrozen_editor()
    {
        var f = new EditorFixture(seed: 14, edits: 3);
        var frozen = f.Edits.Select(e => f.Generator.Generate(e).Sha256).ToList();
        Unfreeze(f.Editor);
        var plain = f.Edits.Select(e => f.Generator.Generate(e).Sha256).ToList();
        plain.ShouldBe(frozen);
    }

    [Fact]
    public void changed_weights_are_never_answered_from_stale_projections()
    {
        var f = new EditorFixture(seed: 15);
        var before = Keys(f.Editor, f, [0]);
        var xi = f.Editor.named_parameters().Single(p => p.name.EndsWith("vis_rep_prot")).parameter;
        var seeds = f.Editor.named_parameters().Where(p => p.name.EndsWith("eqe1") || p.name.EndsWith("eqe2")).Select(p => p.parameter).ToList();
        // Training switches requires_grad on: from then on the plain path runs, with whatever the weights are.
        Unfreeze(f.Editor);
        using (no_grad())
        {
            xi.add_(0.5);
            foreach (var s in seeds) s.mul_(1.5);
        }
        var changed = Keys(f.Editor, f, [0]);
        changed.Sentinel.ShouldNotBe(before.Sentinel);
        changed.Text.ShouldNotBe(before.Text);
        // Frozen again: the kept projections are those of the new weights.
        f.Editor.Freeze();
        var refrozen = Keys(f.Editor, f, [0]);
        refrozen.Visual.ShouldBe(changed.Visual);
        refrozen.Sentinel.ShouldBe(changed.Sentinel);
        refrozen.Text.ShouldBe(changed.Text);
    }
}
