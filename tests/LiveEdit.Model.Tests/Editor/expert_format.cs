using System.Buffers.Binary;
using LiveEdit.Model.Editor;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests.Editor;

[Collection(EditorCollection.Name)]
public sealed class expert_format
{
    [Fact]
    public void round_trips_bytes_values_and_hash()
    {
        var f = new EditorFixture(seed: 41, edits: 2);
        var expert = f.Experts[0];
        var bytes = expert.ToBytes();
        var copy = Expert.FromBytes(bytes);
        copy.ToBytes().ShouldBe(bytes);
        copy.Sha256.ShouldBe(expert.Sha256);
        copy.U.ToArray().ShouldBe(expert.U.ToArray());
        copy.TextKey.ToArray().ShouldBe(expert.TextKey.ToArray());
        copy.BaseSha256.ShouldBe(f.Model.WeightsSha256);
        copy.GeneratorSha256.ShouldBe(f.Editor.GeneratorSha256);
        bytes.Length.ShouldBe(88 + 4 * (2 * 4 * 32 + 2 * 4 * 32));
        expert.Sha256.ShouldNotBe(f.Experts[1].Sha256);
    }

    [Fact]
    public void generation_is_a_pure_function_of_the_edit()
    {
        var f = new EditorFixture(seed: 42, edits: 3);
        // Generate again, in a different order and after other work: same bytes.
        var again = f.Edits.Reverse().Select(f.Generator.Generate).Reverse().ToList();
        again.Select(e => e.Sha256).ShouldBe(f.Experts.Select(e => e.Sha256));
        var fresh = new EditorFixture(seed: 42, edits: 3);
        fresh.Experts.Select(e => e.Sha256).ShouldBe(f.Experts.Select(e => e.Sha256), "a fresh process state with the same seeds");
    }

    [Fact]
    public void rejects_a_wrong_magic_version_or_length()
    {
        var bytes = new EditorFixture(seed: 43, edits: 1).Experts[0].ToBytes();
        var badMagic = (byte[])bytes.Clone();
        badMagic[0] = (byte)'X';
        Should.Throw<InvalidDataException>(() => Expert.FromBytes(badMagic));
        var badVersion = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(badVersion.AsSpan(4), 2);
        Should.Throw<InvalidDataException>(() => Expert.FromBytes(badVersion)).Message.ShouldContain("version 2");
        Should.Throw<InvalidDataException>(() => Expert.FromBytes(bytes.AsSpan(0, bytes.Length - 4)));
    }

    [Fact]
    public void editor_weights_round_trip_through_a_folder_with_their_hash()
    {
        var f = new EditorFixture(seed: 44, edits: 1);
        var folder = Path.Combine(Path.GetTempPath(), $"liveedit-editor-{Guid.NewGuid():N}");
        try
        {
            f.Editor.Save(folder, new EditorProvenance(f.Model.WeightsSha256, 44, 0, 1, "test", 0));
            var (loaded, file) = EditorModules.Load(folder);
            loaded.GeneratorSha256.ShouldBe(f.Editor.GeneratorSha256);
            file.Config.ShouldBe(f.Editor.Config);
            new ExpertGenerator(f.Model, loaded).Generate(f.Edits[0]).Sha256.ShouldBe(f.Experts[0].Sha256);
            var weights = Path.Combine(folder, EditorModules.WeightsFile);
            var corrupt = File.ReadAllBytes(weights);
            corrupt[^1] ^= 1;
            File.WriteAllBytes(weights, corrupt);
            Should.Throw<InvalidDataException>(() => EditorModules.Load(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
