/**
 * ONNX support: conversion between {@code TensorProto} messages and NDArrays ({@link
 * io.github.djlattention.onnx.OnnxTensors}).
 */
package io.github.djlattention.onnx;
