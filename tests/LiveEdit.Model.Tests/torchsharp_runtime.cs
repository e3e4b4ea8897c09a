using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Runtime;
using Shouldly;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests;

[Collection(EditorCollection.Name)]
public sealed class torchsharp_runtime
{
    [Fact]
    public void loads_trains_one_step_and_round_trips_a_module_bit_exactly()
    {
        TorchRuntime.Configure(threads: 1, seed: 7);
        using var scope = NewDisposeScope();
        var model = nn.Sequential(("fc1", nn.Linear(8, 16)), ("act", nn.ReLU()), ("fc2", nn.Linear(16, 3)));
        var optimizer = optim.Adam(model.parameters(), lr: 1e-2);
        var x = randn(32, 8);
        var y = randint(0, 3, [32], dtype: ScalarType.Int64);

        var before = nn.functional.cross_entropy(model.forward(x), y).item<float>();
        optimizer.zero_grad();
        var loss = nn.functional.cross_entropy(model.forward(x), y);
        loss.backward();
        optimizer.step();
        var after = nn.functional.cross_entropy(model.forward(x), y).item<float>();
        after.ShouldBeLessThan(before, "one Adam step on a fixed batch lowers the loss");

        var path = Path.Combine(Path.GetTempPath(), $"liveedit-rt-{Guid.NewGuid():N}.bin");
        try
        {
            model.save(path);
            var copy = nn.Sequential(("fc1", nn.Linear(8, 16)), ("act", nn.ReLU()), ("fc2", nn.Linear(16, 3)));
            copy.load(path);
            foreach (var ((name, a), (_, b)) in model.named_parameters().Zip(copy.named_parameters()))
            {
                a.data<float>().ToArray().ShouldBe(b.data<float>().ToArray(), $"parameter {name} differs after load");
            }
            var outA = model.forward(x).data<float>().ToArray();
            var outB = copy.forward(x).data<float>().ToArray();
            outB.ShouldBe(outA);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void the_same_seed_gives_the_same_weights()
    {
        float[] Weights(long seed)
        {
            TorchRuntime.Configure(threads: 1, seed: seed);
            using var scope = NewDisposeScope();
            return nn.Linear(4, 4).weight!.data<float>().ToArray();
        }

        Weights(11).ShouldBe(Weights(11));
        Weights(11).ShouldNotBe(Weights(12));
    }
}
