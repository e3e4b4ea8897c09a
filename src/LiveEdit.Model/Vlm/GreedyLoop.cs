using static TorchSharp.torch;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// Greedy decoding for any <see cref="IVisionLanguageModel"/>: each row takes its argmax until it chooses its end token,
/// has <c>maxNewTokens</c> tokens, or its next token would not fit the model's positions; both decodings stop at the same
/// points. <see cref="Decoding.Cached"/> prefills once and steps with the KV cache, <see cref="Decoding.Recompute"/>
/// runs the whole sequence at every step (docs/model-contract.md).
/// </summary>
/// <param name="model">The model that runs the forwards.</param>
/// <param name="rows">Batch size.</param>
/// <param name="endToken">The id that ends an answer (not returned).</param>
/// <param name="decode">Token ids to text.</param>
/// <param name="promptPositions">Positions row i holds before its answer (vision, template and prompt).</param>
/// <param name="maxLength">Positions the model reads at most.</param>
/// <param name="build">Inputs for every row with the answer tokens given so far (row i: <c>generated[i]</c>).</param>
internal sealed class GreedyLoop(IVisionLanguageModel model, int rows, int endToken, Func<IReadOnlyList<int>, string> decode,
    Func<int, int> promptPositions, int maxLength, Func<int[][], VlmInputs> build)
{
    /// <summary>Decodes; the caller holds the dispose scope and <c>no_grad</c>.</summary>
    public GreedyDecoding Run(Func<Tensor, Tensor>? atEditLayer, int maxNewTokens, Decoding decoding, bool keepLogits)
    {
        var generated = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToArray();
        var done = new bool[rows];
        var logits = keepLogits ? Enumerable.Range(0, rows).Select(_ => new List<float[]>()).ToArray() : null;
        var device = model.Device;

        // Rows that would overflow the positions stop before their next step.
        bool AllStopped()
        {
            for (var i = 0; i < rows; i++)
                if (!done[i] && promptPositions(i) + generated[i].Count >= maxLength) done[i] = true;
            return done.All(d => d);
        }

        // Each live row's argmax from its logits [B, V], read on the host (data<T>() is only valid for CPU memory).
        void Take(Tensor stepLogits)
        {
            using var scope = NewDisposeScope();
            var next = stepLogits.argmax(-1).cpu().data<long>().ToArray();                          // [B]
            var flat = logits is null ? null : stepLogits.to(ScalarType.Float32, CPU).contiguous().data<float>().ToArray();
            var v = (int)stepLogits.shape[1];
            for (var i = 0; i < rows; i++)
            {
                if (done[i]) continue;
                logits?[i].Add(flat!.AsSpan(i * v, v).ToArray());
                if (next[i] == endToken) done[i] = true;
                else generated[i].Add((int)next[i]);
            }
        }

        GreedyDecoding Result() => new(generated.Select(g => decode(g)).ToArray(), generated.Select(g => g.ToArray()).ToArray(),
            logits?.Select(l => (IReadOnlyList<float[]>)l).ToArray());

        if (decoding == Decoding.Recompute)
        {
            for (var step = 0; step < maxNewTokens && !AllStopped(); step++)
            {
                using var stepScope = NewDisposeScope();
                var inputs = build(generated.Select(g => g.ToArray()).ToArray());
                var all = model.Logits(inputs, atEditLayer);                                        // [B, L, V]
                var last = tensor(inputs.Length.Select(n => (long)(n - 1)).ToArray(), device: device);   // [B]
                Take(all[arange(rows, device: device), last]);                                      // [B, V]
            }
            return Result();
        }
        if (maxNewTokens <= 0 || AllStopped()) return Result();
        var prompt = build(Enumerable.Range(0, rows).Select(_ => Array.Empty<int>()).ToArray());
        var (first, cache) = model.Prefill(prompt, maxNewTokens, atEditLayer);
        using (cache)
        {
            Take(first);
            for (var step = 1; step < maxNewTokens && !AllStopped(); step++)
            {
                using var stepScope = NewDisposeScope();
                var next = new long[rows];
                for (var i = 0; i < rows; i++)
                {
                    if (done[i]) cache.Finish(i);
                    next[i] = done[i] ? endToken : generated[i][^1];
                }
                Take(model.Step(cache, tensor(next, device: device), atEditLayer));                 // [B, V]
            }
        }
        return Result();
    }
}
