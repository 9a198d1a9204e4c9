//! The shaders against the host, without a GPU: every kernel's WGSL, exactly as the device
//! compiles it, parses and validates with naga; every struct the host shares with the shaders
//! has the same member offsets and sizes on both sides, every buffer binds where the host binds
//! it, and every constant has the host's value (the CPU engine's `exp` polynomial and `ln 2`
//! split and the mixout hash bit for bit). A drift fails here, not as numbers that disagree.
#![cfg(feature = "gpu")]

use dpo_playground::engine::{numerics, rng};
use dpo_playground::gpu::{host_constants, host_structs, kernel_interfaces, HostStruct};
use naga::proc::Layouter;
use naga::{AddressSpace, Expression, Literal, Module, TypeInner};
use std::collections::BTreeMap;

/// A kernel's module, parsed and validated.
struct Parsed {
    name: &'static str,
    module: Module,
    layouter: Layouter,
}

fn parsed_kernels() -> Vec<Parsed> {
    kernel_interfaces()
        .into_iter()
        .map(|kernel| {
            let module = naga::front::wgsl::parse_str(&kernel.source).unwrap_or_else(|error| {
                panic!(
                    "kernel {}: {}",
                    kernel.name,
                    error.emit_to_string(&kernel.source)
                )
            });
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::default(),
            )
            .validate(&module)
            .unwrap_or_else(|error| {
                panic!(
                    "kernel {}: {}",
                    kernel.name,
                    error.emit_to_string(&kernel.source)
                )
            });
            let mut layouter = Layouter::default();
            layouter
                .update(module.to_ctx())
                .unwrap_or_else(|error| panic!("kernel {}: {error}", kernel.name));
            Parsed {
                name: kernel.name,
                module,
                layouter,
            }
        })
        .collect()
}

/// A struct member's name, byte offset and byte size.
#[derive(Debug, PartialEq)]
struct Member {
    name: String,
    offset: u32,
    size: u32,
}

/// A struct's members as the WGSL lays them out, a runtime-sized array counting one element (as
/// naga's layouter counts it).
fn wgsl_members(parsed: &Parsed, ty: naga::Handle<naga::Type>) -> Vec<Member> {
    let TypeInner::Struct { members, .. } = &parsed.module.types[ty].inner else {
        return Vec::new();
    };
    members
        .iter()
        .map(|member| Member {
            name: member.name.clone().unwrap_or_default(),
            offset: member.offset,
            size: parsed.layouter[member.ty].size,
        })
        .collect()
}

/// Padding has no meaning: only the named members and the total size must agree.
fn is_padding(name: &str) -> bool {
    name.starts_with("_pad")
}

/// The WGSL struct named `name` in `parsed`, if it declares one.
fn wgsl_struct(parsed: &Parsed, name: &str) -> Option<naga::Handle<naga::Type>> {
    parsed
        .module
        .types
        .iter()
        .find(|(_, ty)| {
            ty.name.as_deref() == Some(name) && matches!(ty.inner, TypeInner::Struct { .. })
        })
        .map(|(handle, _)| handle)
}

fn check_struct(parsed: &Parsed, host: &HostStruct, ty: naga::Handle<naga::Type>) {
    let context = format!("kernel {}, struct {}", parsed.name, host.name);
    let wgsl: Vec<Member> = wgsl_members(parsed, ty)
        .into_iter()
        .filter(|member| !is_padding(&member.name))
        .collect();
    let host_members: Vec<Member> = host
        .members
        .iter()
        .filter(|member| !is_padding(member.name))
        .map(|member| Member {
            name: member.name.to_string(),
            offset: member.offset as u32,
            size: member.size as u32,
        })
        .collect();
    assert_eq!(
        wgsl, host_members,
        "{context}: the members in the WGSL (left) and on the host (right)"
    );
    // naga counts a runtime-sized array as one element, as the host does.
    let wgsl_size = parsed.layouter[ty].size;
    assert_eq!(
        wgsl_size as usize, host.size,
        "{context}: size in the WGSL (left) and on the host (right)"
    );
}

/// The struct types a binding's type reaches (itself, an array's element, a member's type).
fn reached_structs(module: &Module, ty: naga::Handle<naga::Type>, into: &mut Vec<String>) {
    match &module.types[ty].inner {
        TypeInner::Struct { members, .. } => {
            if let Some(name) = &module.types[ty].name {
                into.push(name.clone());
            }
            for member in members {
                reached_structs(module, member.ty, into);
            }
        }
        TypeInner::Array { base, .. } | TypeInner::BindingArray { base, .. } => {
            reached_structs(module, *base, into)
        }
        _ => {}
    }
}

#[test]
fn every_shared_struct_has_the_hosts_layout() {
    let kernels = parsed_kernels();
    let hosts = host_structs();
    for host in &hosts {
        let mut found = false;
        for parsed in &kernels {
            if let Some(ty) = wgsl_struct(parsed, host.name) {
                found = true;
                check_struct(parsed, host, ty);
            }
        }
        assert!(found, "no kernel declares struct {}", host.name);
    }
    // Every struct a buffer holds has a host twin.
    for parsed in &kernels {
        for (_, global) in parsed.module.global_variables.iter() {
            if global.binding.is_none() {
                continue;
            }
            let mut reached = Vec::new();
            reached_structs(&parsed.module, global.ty, &mut reached);
            for name in reached {
                assert!(
                    hosts.iter().any(|host| host.name == name),
                    "kernel {}: binding {:?} holds struct {name}, which the host does not lay out",
                    parsed.name,
                    global.name
                );
            }
        }
    }
}

#[test]
fn every_binding_is_where_the_host_binds_it() {
    let interfaces = kernel_interfaces();
    for (parsed, interface) in parsed_kernels().iter().zip(&interfaces) {
        let mut bound: BTreeMap<u32, (String, AddressSpace)> = BTreeMap::new();
        for (_, global) in parsed.module.global_variables.iter() {
            if let Some(binding) = &global.binding {
                assert_eq!(
                    binding.group, 0,
                    "kernel {}: {:?}",
                    parsed.name, global.name
                );
                let previous = bound.insert(
                    binding.binding,
                    (global.name.clone().unwrap_or_default(), global.space),
                );
                assert!(
                    previous.is_none(),
                    "kernel {}: binding {} twice",
                    parsed.name,
                    binding.binding
                );
            }
        }
        let wgsl: Vec<(u32, &str)> = bound
            .iter()
            .map(|(&index, (name, _))| (index, name.as_str()))
            .collect();
        let host: Vec<(u32, &str)> = interface
            .bindings
            .iter()
            .enumerate()
            .map(|(index, &name)| (index as u32, name))
            .collect();
        assert_eq!(
            wgsl, host,
            "kernel {}: (binding, variable) in the WGSL (left) and as the host binds (right)",
            parsed.name
        );
        // Only `sizes` is a uniform (the host counts the rest against the storage limit).
        for (name, space) in bound.values() {
            let uniform = matches!(space, AddressSpace::Uniform);
            assert_eq!(
                uniform,
                name == "sizes",
                "kernel {}: {name} is {space:?}",
                parsed.name
            );
        }
    }
}

/// A WGSL constant's value.
#[derive(Clone, PartialEq)]
enum Value {
    U32(u32),
    /// By its bits, so that equal means bit for bit.
    F32(u32),
    F32Array(Vec<u32>),
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let float = |bits: &u32| format!("{:e} ({bits:#010x})", f32::from_bits(*bits));
        match self {
            Value::U32(value) => write!(f, "{value} ({value:#x})"),
            Value::F32(bits) => write!(f, "{}", float(bits)),
            Value::F32Array(values) => f.debug_list().entries(values.iter().map(float)).finish(),
        }
    }
}

fn value(module: &Module, expression: naga::Handle<Expression>) -> Value {
    match &module.global_expressions[expression] {
        Expression::Literal(Literal::U32(value)) => Value::U32(*value),
        Expression::Literal(Literal::F32(value)) => Value::F32(value.to_bits()),
        Expression::Compose { components, .. } => Value::F32Array(
            components
                .iter()
                .map(|&component| match value(module, component) {
                    Value::F32(bits) => bits,
                    other => panic!("an array of f32 expected, found {other:?}"),
                })
                .collect(),
        ),
        other => panic!("a literal or an array of literals expected, found {other:?}"),
    }
}

/// Every named constant of `module`.
fn constants(module: &Module) -> BTreeMap<String, Value> {
    module
        .constants
        .iter()
        .filter_map(|(_, constant)| {
            let name = constant.name.clone()?;
            Some((name, value(module, constant.init)))
        })
        .collect()
}

/// The constants the shaders share with the CPU engine (`engine::numerics`), by their WGSL names.
fn engine_constants() -> Vec<(&'static str, Value)> {
    let bits = |value: f32| Value::F32(value.to_bits());
    vec![
        ("LOG2_E", bits(numerics::LOG2_E)),
        ("LN2_HIGH", bits(numerics::LN2_HIGH)),
        ("LN2_LOW", bits(numerics::LN2_LOW)),
        (
            "EXP_POLYNOMIAL",
            Value::F32Array(
                numerics::EXP_POLYNOMIAL
                    .iter()
                    .map(|c| c.to_bits())
                    .collect(),
            ),
        ),
        ("EXP_DOMAIN_LOW", bits(numerics::EXP_DOMAIN.0)),
        ("EXP_DOMAIN_HIGH", bits(numerics::EXP_DOMAIN.1)),
        ("LOWEST_F32", bits(f32::MIN)),
    ]
}

/// The constants of the mixout hash, which `engine::rng` writes inline: checked by computing
/// `hash32` and `uniform_at` from the WGSL's constants and comparing with the CPU's.
const HASH_CONSTANTS: [&str; 4] = [
    "HASH_MULTIPLIER_FIRST",
    "HASH_MULTIPLIER_SECOND",
    "UNIFORM_INDEX_SALT",
    "UNIFORM_SCALE",
];

#[test]
fn every_constant_has_the_hosts_value() {
    let host: BTreeMap<String, Value> = host_constants()
        .into_iter()
        .map(|(name, value)| (name.to_string(), Value::U32(value)))
        .chain(
            engine_constants()
                .into_iter()
                .map(|(name, value)| (name.to_string(), value)),
        )
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for parsed in parsed_kernels() {
        let wgsl = constants(&parsed.module);
        for (name, wgsl_value) in &wgsl {
            if HASH_CONSTANTS.contains(&name.as_str()) {
                continue;
            }
            let host_value = host.get(name).unwrap_or_else(|| {
                panic!(
                    "kernel {}: constant {name} has no host counterpart in host_constants() \
                     or in this test",
                    parsed.name
                )
            });
            assert_eq!(
                wgsl_value, host_value,
                "kernel {}: constant {name} in the WGSL (left) and on the host (right)",
                parsed.name
            );
        }
        seen.extend(wgsl.keys().cloned());
        // Every kernel sees the whole of common.wgsl.
        for name in engine_constants()
            .iter()
            .map(|(name, _)| *name)
            .chain(HASH_CONSTANTS)
        {
            assert!(
                wgsl.contains_key(name),
                "kernel {}: no constant {name}",
                parsed.name
            );
        }
    }
    for name in host.keys() {
        assert!(seen.contains(name), "no kernel declares constant {name}");
    }
}

#[test]
fn the_mixout_hash_is_the_cpus() {
    let kernels = parsed_kernels();
    let wgsl = constants(&kernels[0].module);
    let word = |name: &str| match wgsl.get(name) {
        Some(Value::U32(value)) => *value,
        other => panic!("constant {name}: a u32 expected, found {other:?}"),
    };
    let (first, second, salt) = (
        word("HASH_MULTIPLIER_FIRST"),
        word("HASH_MULTIPLIER_SECOND"),
        word("UNIFORM_INDEX_SALT"),
    );
    let scale = match wgsl.get("UNIFORM_SCALE") {
        Some(Value::F32(bits)) => f32::from_bits(*bits),
        other => panic!("constant UNIFORM_SCALE: an f32 expected, found {other:?}"),
    };
    // common.wgsl's hash32 and uniform_at, with its constants.
    let hash32 = |value: u32| {
        let mut x = value;
        x ^= x >> 16;
        x = x.wrapping_mul(first);
        x ^= x >> 15;
        x = x.wrapping_mul(second);
        x ^= x >> 16;
        x
    };
    let uniform_at = |seed: u64, step: u32, index: u32| {
        let h =
            hash32(seed as u32 ^ hash32((seed >> 32) as u32 ^ hash32(step ^ hash32(index ^ salt))));
        (h >> 8) as f32 * scale
    };
    let mut value = 1u32;
    for _ in 0..10_000 {
        value = value.wrapping_mul(0x9E37_79B9).wrapping_add(7);
        assert_eq!(hash32(value), rng::hash32(value), "hash32({value:#x})");
        let seed = (value as u64) << 17 | 3;
        let (step, index) = (value >> 7, value % 5000);
        assert_eq!(
            uniform_at(seed, step, index).to_bits(),
            rng::uniform_at(seed, step as u64, index).to_bits(),
            "uniform_at({seed}, {step}, {index})"
        );
    }
}
