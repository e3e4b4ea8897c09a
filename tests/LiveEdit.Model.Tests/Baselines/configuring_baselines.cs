using LiveEdit.Research.Baselines;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests.Baselines;

/// <summary>Baseline settings changed by name (<c>bench baselines --set grace.epsilon=8</c>): the sweep behind the defaults is a command.</summary>
public sealed class configuring_baselines
{
    private static Dictionary<string, string> Set(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    [Fact]
    public void replaces_only_the_named_settings_in_any_case()
    {
        var grace = BaselineMethods.Configure(new GraceConfig(), "grace", Set(("epsilon", "8"), ("LEARNINGRATE", "0.25")));
        grace.ShouldBe(new GraceConfig() with { Epsilon = 8, LearningRate = 0.25 });
        var lora = BaselineMethods.Configure(new SequentialLoraConfig(), "lora", Set(("steps", "12"), ("scale", "2.5e-1")));
        lora.ShouldBe(new SequentialLoraConfig() with { Steps = 12, Scale = 0.25 });
    }

    [Fact]
    public void without_overrides_gives_the_defaults()
    {
        BaselineMethods.Configure(new LayerFineTuningConfig(), "ft-l", null).ShouldBe(new LayerFineTuningConfig());
        BaselineMethods.Configure(new LayerFineTuningConfig(), "ft-l", Set()).ShouldBe(new LayerFineTuningConfig());
    }

    [Theory]
    [InlineData("radius", "8", "grace has no setting 'radius'; its settings: Epsilon, Steps, LearningRate, StopLoss")]
    [InlineData("epsilon", "eight", "grace.Epsilon: 'eight' is not a number")]
    [InlineData("epsilon", "NaN", "grace.Epsilon: 'NaN' is not a number")]
    [InlineData("steps", "2.5", "does not fit its settings")]
    public void refuses_an_unknown_name_or_a_bad_value_with_a_clear_message(string key, string value, string message)
    {
        Should.Throw<ArgumentException>(() => BaselineMethods.Configure(new GraceConfig(), "grace", Set((key, value))))
            .Message.ShouldContain(message);
    }
}
