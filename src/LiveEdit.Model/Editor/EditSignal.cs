using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Cuts per-example ranges (vision, prompt, vision⊕prompt⊕answer) out of hidden states at layer l_e and pads them
/// into one batch with a key mask, so that the editor's cross-attentions run once per batch.
/// </summary>
public static class EditSignal
{
    /// <summary>Which range of each example.</summary>
    public enum Part { Vision, Prompt, Whole }

    /// <summary>
    /// Rows <paramref name="rows"/> of <paramref name="hidden"/> [B, L, d], range <paramref name="part"/> →
    /// (padded [n, maxLen, d], mask [n, maxLen] bool, or null when every range has the full length: nothing to mask).
    /// <see cref="Part.Whole"/> is h_v⊕h_p⊕h_o, which the layout [vision][prompt][answer] keeps contiguous.
    /// </summary>
    public static (Tensor Values, Tensor? Mask) Gather(Tensor hidden, VlmInputs inputs, IReadOnlyList<int> rows, Part part)
    {
        using var scope = NewDisposeScope();
        var n = rows.Count;
        var starts = new int[n];
        var lengths = new int[n];
        for (var j = 0; j < n; j++)
        {
            var i = rows[j];
            (starts[j], lengths[j]) = part switch
            {
                Part.Vision => (inputs.VisionStart[i], inputs.VisionCount[i]),
                Part.Prompt => (inputs.PromptStart[i], inputs.PromptLength[i]),
                _ => (inputs.VisionCount[i] > 0 ? inputs.VisionStart[i] : inputs.PromptStart[i],
                      inputs.AnswerStart[i] + inputs.AnswerLength[i] - (inputs.VisionCount[i] > 0 ? inputs.VisionStart[i] : inputs.PromptStart[i])),
            };
            if (lengths[j] <= 0) throw new ArgumentException($"example {i} has an empty {part} range");
        }
        var max = lengths.Max();
        if (n == 1)
        {
            // One row (a query, an edit): its range as a slice, no index tensors and no mask.
            var slice = hidden.shape[0] == 1
                ? hidden.narrow(1, starts[0], lengths[0])                                      // [1, len, d]
                : hidden[rows[0]].narrow(0, starts[0], lengths[0]).unsqueeze(0);
            return (slice.MoveToOuterDisposeScope(), null);
        }
        var index = new long[n * max];
        var mask = new bool[n * max];
        for (var j = 0; j < n; j++)
            for (var t = 0; t < max; t++)
            {
                index[j * max + t] = starts[j] + Math.Min(t, lengths[j] - 1);
                mask[j * max + t] = t < lengths[j];
            }
        var d = hidden.shape[2];
        var selected = n == hidden.shape[0] && rows.Select((r, j) => r == j).All(x => x)
            ? hidden
            : hidden.index_select(0, tensor(rows.Select(r => (long)r).ToArray(), device: hidden.device));
        var idx = tensor(index, device: hidden.device).reshape(n, max, 1).expand(n, max, d);
        var values = selected.gather(1, idx);                                    // [n, maxLen, d]
        if (lengths.All(x => x == max)) return (values.MoveToOuterDisposeScope(), null);
        var maskTensor = tensor(mask, device: hidden.device).reshape(n, max);    // [n, maxLen]
        return (values.MoveToOuterDisposeScope(), maskTensor.MoveToOuterDisposeScope());
    }
}
