package gpiosensors_test

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/atmd/atmd/devices/gpiosensors"
	"github.com/atmd/atmd/hal/sensors"
)

// Wiring a vault door switch (to ground, with a pull-up: active-low) and
// the cash light. On an ATM the pins come from periph.io/x/host/v3's
// gpioreg.ByName; here they are gpiotest pins.
func ExampleNew() {
	door := &gpiotest.Pin{N: "GPIO17", EdgesChan: make(chan gpio.Level, 1)}
	cash := &gpiotest.Pin{N: "GPIO27"}
	dev, err := gpiosensors.New(gpiosensors.Pins{
		Inputs: map[sensors.Input]gpiosensors.InputPin{
			sensors.VaultDoor: {Pin: door, ActiveLow: true, Pull: gpio.PullUp},
		},
		Lights: map[sensors.Light]gpio.PinOut{sensors.CashLight: cash},
	}, gpiosensors.DefaultOptions)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	r, _ := dev.Read(ctx)
	fmt.Println("door open:", r[sensors.VaultDoor])

	_ = door.Out(gpio.Low) // someone opens the door: the switch pulls the line low
	door.EdgesChan <- gpio.Low
	c, _ := dev.Watch(ctx)
	fmt.Printf("change: %s on=%v\n", c.Input, c.On)

	_ = dev.SetLight(ctx, sensors.CashLight, true)
	fmt.Println("cash light:", cash.Read())
	_ = dev.Halt(ctx)
	fmt.Println("after Halt:", cash.Read())
	// Output:
	// door open: false
	// change: vault-door on=true
	// cash light: High
	// after Halt: Low
}
