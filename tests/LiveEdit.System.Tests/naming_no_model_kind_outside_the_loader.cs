using System.Collections.Immutable;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// The serving runtime, the workers, the benchmark harness and the command line hold the base model as
/// <c>IVisionLanguageModel</c>, chosen by <c>VlmLoader</c>: their compiled code references no TinyVLM type, nor TinyVLM's
/// own preprocessing (<c>RgbImage.ToModelInput</c>) or vocabulary rules (<c>EditTextLimits</c>) — in signatures, fields,
/// locals, base types or method bodies (read from the built assemblies' metadata and IL). Only the lab commands that
/// train and probe TinyVLM itself on SynthWorld may.
/// </summary>
public sealed class naming_no_model_kind_outside_the_loader
{
    private static readonly string[] LabCommandsOfTinyVlm =
    [
        "LiveEdit.Cli.Research.TrainCommand",       // train vlm: trains TinyVLM itself
        "LiveEdit.Cli.Research.EvalEditorCommand",  // eval editor / eval identity: SynthWorld on the committed TinyVLM
        "LiveEdit.Cli.Research.FilterBankCommand",  // train hubness: a SynthWorld filter bank for the TinyVLM editor
    ];

    public static TheoryData<string> Assemblies() => new()
    {
        "LiveEdit.Hosting.dll",
        "LiveEdit.Inference.dll",
        "LiveEdit.Bench.dll",
        "worker",
        "cli",
    };

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void the_built_code_references_no_tiny_vlm(string assembly)
    {
        var offending = References(PathOf(assembly)).Where(r => !LabCommandsOfTinyVlm.Contains(r.Type)).ToList();

        offending.Select(r => $"{r.Type}: {r.What}").ShouldBeEmpty();
    }

    [Fact]
    public void the_check_finds_tiny_vlm_where_the_lab_commands_use_it()
    {
        // Without this the test above could pass by reading nothing.
        var found = References(BuiltProgram.Cli);

        found.ShouldContain(r => r.Type == "LiveEdit.Cli.Research.TrainCommand" && r.What.Contains("TinyVlm"));
        found.ShouldContain(r => r.Type == "LiveEdit.Cli.Research.EvalEditorCommand");
        // The lab itself trains TinyVLM: its assembly is full of such references.
        References(Path.Combine(AppContext.BaseDirectory, "LiveEdit.Research.dll")).ShouldContain(r => r.What.Contains("TinyVlm"));
    }

    private static string PathOf(string assembly) => assembly switch
    {
        "worker" => BuiltProgram.Worker,
        "cli" => BuiltProgram.Cli,
        _ => Path.Combine(AppContext.BaseDirectory, assembly),
    };

    private sealed record Reference(string Type, string What);

    /// <summary>Every reference to a forbidden type or member in <paramref name="path"/>, by the top-level type that makes it.</summary>
    private static List<Reference> References(string path)
    {
        File.Exists(path).ShouldBeTrue($"{path} is not built");
        using var pe = new PEReader(File.OpenRead(path));
        var md = pe.GetMetadataReader();
        var forbiddenTypes = new HashSet<TypeReferenceHandle>();
        RgbImageReference(md, out var rgbImage);
        foreach (var handle in md.TypeReferences)
        {
            var type = md.GetTypeReference(handle);
            var ns = md.GetString(type.Namespace);
            var name = md.GetString(type.Name);
            if (ns == "LiveEdit.Model.Vlm" && (name.StartsWith("TinyVlm", StringComparison.Ordinal) || name == "EditTextLimits")) forbiddenTypes.Add(handle);
        }
        var provider = new ForbiddenTypes(forbiddenTypes);

        bool Forbidden(EntityHandle handle, out string what)
        {
            what = "";
            switch (handle.Kind)
            {
                case HandleKind.TypeReference:
                    what = Describe(md, (TypeReferenceHandle)handle);
                    return forbiddenTypes.Contains((TypeReferenceHandle)handle);
                case HandleKind.TypeSpecification:
                    what = "a generic type over a TinyVLM type";
                    return md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(provider, null);
                case HandleKind.MemberReference:
                {
                    var member = md.GetMemberReference((MemberReferenceHandle)handle);
                    var name = md.GetString(member.Name);
                    what = $"member {name}";
                    if (member.Parent.Kind == HandleKind.TypeReference && (TypeReferenceHandle)member.Parent == rgbImage && name is "ToModelInput" or "LoadForModel")
                    {
                        what = $"RgbImage.{name}";
                        return true;
                    }
                    if (member.Parent.Kind is HandleKind.TypeReference or HandleKind.TypeSpecification && Forbidden(member.Parent, out var parent))
                    {
                        what = $"{parent}.{name}";
                        return true;
                    }
                    return member.GetKind() == MemberReferenceKind.Method
                        ? Any(member.DecodeMethodSignature(provider, null))
                        : member.DecodeFieldSignature(provider, null);
                }
                case HandleKind.MethodSpecification:
                {
                    var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                    what = "a generic method over a TinyVLM type";
                    return Forbidden(spec.Method, out _) || spec.DecodeSignature(provider, null).Any(x => x);
                }
                default:
                    return false;
            }
        }

        var found = new List<Reference>();
        foreach (var typeHandle in md.TypeDefinitions)
        {
            var type = md.GetTypeDefinition(typeHandle);
            var owner = TopLevelName(md, typeHandle);
            void Add(string what) => found.Add(new Reference(owner, what));
            if (!type.BaseType.IsNil && Forbidden(type.BaseType, out var b)) Add($"base type {b}");
            foreach (var i in type.GetInterfaceImplementations())
                if (Forbidden(md.GetInterfaceImplementation(i).Interface, out var w)) Add($"interface {w}");
            foreach (var f in type.GetFields())
            {
                var field = md.GetFieldDefinition(f);
                if (field.DecodeSignature(provider, null)) Add($"field {md.GetString(field.Name)}");
            }
            foreach (var m in type.GetMethods())
            {
                var method = md.GetMethodDefinition(m);
                var name = md.GetString(method.Name);
                if (Any(method.DecodeSignature(provider, null))) Add($"signature of {name}");
                if (method.RelativeVirtualAddress == 0) continue;
                var body = pe.GetMethodBody(method.RelativeVirtualAddress);
                if (!body.LocalSignature.IsNil && md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(provider, null).Any(x => x))
                    Add($"a local of {name}");
                foreach (var token in Tokens(body.GetILBytes() ?? []))
                    if (Forbidden(MetadataTokens.EntityHandle(token), out var what)) Add($"{what} in {name}");
            }
        }
        return found;
    }

    private static bool Any(MethodSignature<bool> signature) => signature.ReturnType || signature.ParameterTypes.Any(p => p);

    private static void RgbImageReference(MetadataReader md, out TypeReferenceHandle handle)
    {
        handle = default;
        foreach (var h in md.TypeReferences)
        {
            var type = md.GetTypeReference(h);
            if (md.GetString(type.Namespace) == "LiveEdit.Model.Images" && md.GetString(type.Name) == "RgbImage") handle = h;
        }
    }

    private static string Describe(MetadataReader md, TypeReferenceHandle handle)
    {
        var type = md.GetTypeReference(handle);
        return $"{md.GetString(type.Namespace)}.{md.GetString(type.Name)}";
    }

    private static string TopLevelName(MetadataReader md, TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        while (type.GetDeclaringType() is { IsNil: false } outer)
        {
            handle = outer;
            type = md.GetTypeDefinition(handle);
        }
        var ns = md.GetString(type.Namespace);
        return ns.Length == 0 ? md.GetString(type.Name) : $"{ns}.{md.GetString(type.Name)}";
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes).GetFields()
        .Where(f => f.FieldType == typeof(OpCode)).Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>The metadata tokens a method body's instructions name (fields, methods, types, ldtoken).</summary>
    private static IEnumerable<int> Tokens(byte[] il)
    {
        for (var at = 0; at < il.Length;)
        {
            short value = il[at++];
            if (value == 0xFE) value = (short)(0xFE00 | il[at++]);
            var op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    yield return BitConverter.ToInt32(il, at);
                    at += 4;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    at += 1;
                    break;
                case OperandType.InlineVar:
                    at += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    at += 8;
                    break;
                case OperandType.InlineSwitch:
                    at += 4 + 4 * BitConverter.ToInt32(il, at);
                    break;
                default:
                    at += 4;
                    break;
            }
        }
    }

    /// <summary>Decodes a signature to "does it mention a forbidden type".</summary>
    private sealed class ForbiddenTypes(HashSet<TypeReferenceHandle> forbidden) : ISignatureTypeProvider<bool, object?>
    {
        public bool GetPrimitiveType(PrimitiveTypeCode typeCode) => false;
        public bool GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => false;
        public bool GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => forbidden.Contains(handle);
        public bool GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, context);
        public bool GetSZArrayType(bool elementType) => elementType;
        public bool GetArrayType(bool elementType, ArrayShape shape) => elementType;
        public bool GetByReferenceType(bool elementType) => elementType;
        public bool GetPointerType(bool elementType) => elementType;
        public bool GetPinnedType(bool elementType) => elementType;
        public bool GetGenericInstantiation(bool genericType, ImmutableArray<bool> typeArguments) => genericType || typeArguments.Any(t => t);
        public bool GetGenericMethodParameter(object? genericContext, int index) => false;
        public bool GetGenericTypeParameter(object? genericContext, int index) => false;
        public bool GetFunctionPointerType(MethodSignature<bool> signature) => signature.ReturnType || signature.ParameterTypes.Any(p => p);
        public bool GetModifiedType(bool modifier, bool unmodifiedType, bool isRequired) => unmodifiedType;
    }
}
