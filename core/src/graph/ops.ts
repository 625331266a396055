/** Every differentiable op beyond the builder's own (gemm, matmul, add, relu, flatten). */
export * from './ops-elementwise';
export * from './ops-linear';
export * from './ops-shape';
export * from './ops-spatial';
